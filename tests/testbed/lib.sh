# Shared helpers for the test bed scripts. Source it: . "$(dirname "$0")/lib.sh"
# shellcheck shell=bash

TESTBED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${REPO:-$(cd "$TESTBED_DIR/../.." && pwd)}"
CACHE_DIR="${TESTBED_CACHE:-$REPO/.cache/testbed}"
mkdir -p "$CACHE_DIR"

BASE_IMAGE_REPO="${BASE_IMAGE_REPO:-local/owb-debian-systemd}"
BASE_IMAGE_TAG="${BASE_IMAGE_TAG:-bookworm}"
SAMPLEAPP_IMAGE_REPO="${SAMPLEAPP_IMAGE_REPO:-local/owb-sampleapp}"

_TB_T0="${_TB_T0:-$(date +%s.%N)}"
export _TB_T0

log() {
  # log MESSAGE... -> stderr, with elapsed seconds since the first script started
  local now
  now="$(date +%s.%N)"
  printf '[testbed %6.1fs] %s\n' "$(awk -v a="$now" -v b="$_TB_T0" 'BEGIN{print a-b}')" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

# recipe_hash FILE_OR_DIR... -> 12 hex chars, stable over the content (and relative names) of the inputs
recipe_hash() {
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then
      (cd "$p" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z \
        | xargs -0 -r sha256sum)
    elif [ -f "$p" ]; then
      printf '%s  %s\n' "$(sha256sum <"$p" | cut -d' ' -f1)" "$(basename "$p")"
    else
      printf 'literal %s\n' "$p"
    fi
  done | sha256sum | cut -c1-12
}

# timed LABEL CMD... : runs CMD, logs its duration, keeps its exit status
timed() {
  local label="$1"; shift
  local t0 t1 rc
  t0="$(date +%s.%N)"
  "$@"; rc=$?
  t1="$(date +%s.%N)"
  log "timing: $label took $(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.1f", a-b}')s (rc=$rc)"
  return $rc
}

image_exists() {
  docker image inspect "$1" >/dev/null 2>&1
}

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (apt-get, dockerd, debootstrap need it)"
}

# quiet_to LOGFILE CMD... : run CMD with stdout+stderr into LOGFILE
quiet_to() {
  local f="$1"; shift
  "$@" >"$f" 2>&1
}

# with_lock NAME CMD... : run CMD holding $CACHE_DIR/NAME.lock (serialises concurrent builds)
with_lock() {
  local name="$1"; shift
  (
    flock -w "${TESTBED_LOCK_WAIT:-1800}" 9 || die "could not take $CACHE_DIR/$name.lock"
    "$@"
  ) 9>"$CACHE_DIR/$name.lock"
}
