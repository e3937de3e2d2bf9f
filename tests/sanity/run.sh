#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection, offline, with every Python it can find.
#
# ansible-test wants the collection at .../ansible_collections/<namespace>/<name>/ and resolves the
# real path of its working directory, so a symlink is not enough: the files git knows about
# (tracked + untracked, not ignored), minus galaxy.yml's build_ignore (what ships), are copied into .cache/ansible-test/ansible_collections/
# sage_open_webui/backup/ (its tests/output/ is kept between runs: it holds the cached venvs).
#
# `--venv` bootstraps pip from a download host that is not reachable; tests/sanity/bootstrap_get_pip.py
# is put at the cache path it looks for first.
#
# Env: ANSIBLE_TEST (default: ansible-test on PATH), SANITY_PYTHONS (e.g. "3.12"; default: every
# version ansible-test supports that is installed), SANITY_ARGS (extra args, e.g. "--test pylint"),
# SANITY_SYNC_ONLY=1 (only refresh the copy and print its path; `make changelog` uses it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ANSIBLE_TEST="${ANSIBLE_TEST:-ansible-test}"
DEST="$ROOT/.cache/ansible-test/ansible_collections/sage_open_webui/backup"
BIN="$ROOT/.cache/ansible-test/bin"

log() { printf '[sanity] %s\n' "$*" >&2; }

command -v "$ANSIBLE_TEST" >/dev/null || { log "ERROR: $ANSIBLE_TEST not found. Fix: run 'make venv' and use 'make sanity'."; exit 1; }
ANSIBLE_TEST="$(command -v "$ANSIBLE_TEST")"
AT_PY="$(dirname "$ANSIBLE_TEST")/python"

# 1. pip bootstrap script at the cache path ansible-test checks before downloading.
pip_ver="$("$AT_PY" - <<'PY'
import re, ansible_test._internal.python_requirements as m, inspect
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(m.get_venv_packages)).group(1))
PY
)"
mkdir -p "$HOME/.ansible/test/cache"
install -m 0644 "$ROOT/tests/sanity/bootstrap_get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"

# 2. Interpreters: pyenv shims fail for versions that are not `pyenv global`; expose real binaries.
supported="$("$AT_PY" -c 'from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS as v; print(" ".join(v))')"
rm -rf "$BIN"; mkdir -p "$BIN"
found=()
for v in $supported; do
  if [ -n "${SANITY_PYTHONS:-}" ] && [[ " $SANITY_PYTHONS " != *" $v "* ]]; then continue; fi
  cand=""
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" /usr/bin/python"$v" /usr/local/bin/python"$v"; do
    if [ -x "$p" ] && "$p" -c 'import ensurepip, venv' >/dev/null 2>&1; then cand="$p"; fi
  done
  if [ -n "$cand" ]; then ln -s "$cand" "$BIN/python$v"; found+=("$v"); fi
done
[ "${#found[@]}" -gt 0 ] || { log "ERROR: no Python among [$supported] with venv+ensurepip. Fix: install one (pyenv install 3.12)."; exit 1; }
log "ansible-test $("$ANSIBLE_TEST" --version | awk '{print $NF}'), pip bootstrap $pip_ver, pythons: ${found[*]}"

# 3. Copy the collection into an ansible_collections tree.
mkdir -p "$DEST"
find "$DEST" -mindepth 1 -maxdepth 1 ! -name tests ! -name .git -exec rm -rf {} +
if [ -d "$DEST/tests" ]; then find "$DEST/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +; fi
(cd "$ROOT" && "$AT_PY" "$ROOT/tests/sanity/collection_files.py") | (cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$DEST"

# The copy sits inside this checkout's (ignored) .cache/: without its own .git, ansible-test would
# list files through the outer repository and see none. It lists tracked + untracked files.
[ -d "$DEST/.git" ] || git -C "$DEST" init -q
printf '/tests/output/\n' >"$DEST/.git/info/exclude"
if [ -n "${SANITY_SYNC_ONLY:-}" ]; then echo "$DEST"; exit 0; fi

# 4. Run: every test on the controller's Python (the venv's), then the multi-version tests
#    (compile, import: module code runs on the managed hosts) on each other Python found.
ctl="$("$AT_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ " ${found[*]} " == *" $ctl "* ]] || { ln -sf "$(readlink -f "$AT_PY")" "$BIN/python$ctl"; found=("$ctl" "${found[@]}"); }
cd "$DEST"
export PATH="$BIN:$PATH"
rc=0
log "ansible-test sanity --venv --python $ctl (all tests)"
"$ANSIBLE_TEST" sanity --venv --python "$ctl" --color no ${SANITY_ARGS:-} || rc=1
for v in "${found[@]}"; do
  [ "$v" = "$ctl" ] && continue
  log "ansible-test sanity --venv --python $v (compile, import)"
  "$ANSIBLE_TEST" sanity --venv --python "$v" --color no --test compile --test import ${SANITY_ARGS:-} || rc=1
done
[ "$rc" = 0 ] && log "sanity passed on: ${found[*]}" || log "sanity FAILED (see above)"
exit "$rc"
