#!/usr/bin/env bash
# Build the real Open WebUI 0.12.4 test image: local/owb-openwebui:0.12.4-<recipe hash> (+ :0.12.4).
#
# 1. venv on the host with Debian's /usr/bin/python3 (the same path exists in the base image, and the
#    venv's shebangs are absolute): pip install torch==2.13.0 (CPU wheel from PIP_FIND_LINKS) FIRST,
#    then open-webui==0.12.4. Cached at $OWUI_VENV; reused when the installed versions match.
# 2. image = `docker import` of one tar stream (base image filesystem + the venv; the daemon writes it
#    once), then `docker build` of Dockerfile on top (env, entrypoint, health check; tiny context).
#    The classic builder's COPY of the venv took ~6 min here; this takes ~1-2 min.
# Idempotent: skips everything when the tag for the current recipe hash exists.
# Usage: build.sh [--venv-only]   (prints the image tag on stdout)
# Env: OWUI_VENV (default /opt/owb-openwebui-venv; the Dockerfile copies it to that same path),
#      BASE_WAIT (seconds to wait for the base image, default 0).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/../lib.sh"

OWUI_VERSION=0.12.4
BUILD_LAYOUT=2   # 1: classic COPY of the venv; 2: docker import of base rootfs + venv, config layer on top
TORCH_VERSION=2.13.0
# The CPU build (a wheel in PIP_FIND_LINKS, /opt/wheels here). Pinning the local version makes pip fail
# with "No matching distribution" instead of silently pulling the multi-GB CUDA build from PyPI.
TORCH_SPEC="${TORCH_SPEC:-torch==$TORCH_VERSION+cpu}"
OWUI_VENV="${OWUI_VENV:-/opt/owb-openwebui-venv}"
IMAGE_REPO="${OPENWEBUI_IMAGE_REPO:-local/owb-openwebui}"
BASE_IMAGE="$BASE_IMAGE_REPO:$BASE_IMAGE_TAG"
BASE_WAIT="${BASE_WAIT:-0}"
STAGE_ROOT="${OWUI_STAGE_ROOT:-/opt/owb-openwebui-build}"
TIMINGS="$CACHE_DIR/openwebui-build-timings.txt"
SYS_PY=/usr/bin/python3

[ "$OWUI_VENV" = /opt/owb-openwebui-venv ] || die "OWUI_VENV must be /opt/owb-openwebui-venv (shebangs are absolute and the image uses that path)"

record() {  # record LABEL SECONDS
  printf '%s %s %ss\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" >>"$TIMINGS"
  log "timing: $1 took ${2}s"
}
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN{printf "%.1f", a-b}'; }

venv_ok() {
  [ -x "$OWUI_VENV/bin/python" ] && [ -x "$OWUI_VENV/bin/open-webui" ] && "$OWUI_VENV/bin/python" - "$OWUI_VERSION" "$TORCH_VERSION" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
ow, tv = sys.argv[1], sys.argv[2]
assert m.version("open-webui") == ow, m.version("open-webui")
assert m.version("torch").split("+")[0] == tv, m.version("torch")
assert not any(d.metadata["Name"].startswith("nvidia-") for d in m.distributions()), "CUDA torch"
assert sys.executable.startswith("/opt/") and sys.version_info[:2] == (3, 11)
PY
}

ensure_system_python() {
  [ -x "$SYS_PY" ] || die "$SYS_PY missing (Debian python3); apt-get install python3"
  if ! "$SYS_PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need_root
    log "installing python3-venv with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >&2
  fi
}

build_venv() {
  if venv_ok; then
    log "venv $OWUI_VENV already has open-webui==$OWUI_VERSION and torch==$TORCH_VERSION"
    return 0
  fi
  ensure_system_python
  log "creating $OWUI_VENV (pip install $TORCH_SPEC, then open-webui==$OWUI_VERSION; ~2.9 GB)"
  local t0; t0="$(now)"
  rm -rf "$OWUI_VENV"
  "$SYS_PY" -m venv "$OWUI_VENV"
  "$OWUI_VENV/bin/pip" install -q --upgrade pip >&2
  # torch first: otherwise open-webui's dependency resolution fetches a multi-GB CUDA build
  "$OWUI_VENV/bin/pip" install "$TORCH_SPEC" >&2 \
    || die "pip install $TORCH_SPEC failed: put torch-$TORCH_VERSION+cpu-cp311-*.whl in PIP_FIND_LINKS (or set TORCH_SPEC)"
  "$OWUI_VENV/bin/pip" install "open-webui==$OWUI_VERSION" >&2
  venv_ok || die "venv $OWUI_VENV does not have the expected versions after pip install"
  record "venv-install" "$(since "$t0")"
}

wait_base_image() {
  local i=0
  while ! image_exists "$BASE_IMAGE"; do
    if [ "$i" -ge "$BASE_WAIT" ]; then
      if [ -x "$TESTBED_DIR/base-image.sh" ]; then
        log "base image $BASE_IMAGE missing: running base-image.sh"
        "$TESTBED_DIR/base-image.sh"
        image_exists "$BASE_IMAGE" && return 0
      fi
      die "base image $BASE_IMAGE not found (build it with tests/testbed/base-image.sh)"
    fi
    sleep 5; i=$((i + 5))
  done
}

main() {
  if [ "${1:-}" = --venv-only ]; then build_venv; return 0; fi
  command -v docker >/dev/null 2>&1 || die "docker client missing (run tests/testbed/docker.sh)"
  timeout 10 docker info >/dev/null 2>&1 || die "docker engine does not answer (run tests/testbed/docker.sh)"
  wait_base_image
  local base_id hash tag
  # the base's own recipe label (stable when the base is rebuilt from the same recipe), else its id
  base_id="$(docker image inspect -f '{{index .Config.Labels "org.sage-open-webui.testbed.recipe"}}' "$BASE_IMAGE" 2>/dev/null || true)"
  [ -n "$base_id" ] && [ "$base_id" != "<no value>" ] || base_id="$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")"
  # Cache key: what ends up in the image. Bump BUILD_LAYOUT when this script changes how the image is made.
  hash="$(recipe_hash "$HERE/Dockerfile" "$HERE/entrypoint.sh" "$HERE/healthcheck.py" "layout=$BUILD_LAYOUT" \
          "open-webui==$OWUI_VERSION" "$TORCH_SPEC" "venv=$OWUI_VENV" "base=$base_id")"
  tag="$IMAGE_REPO:$OWUI_VERSION-$hash"
  if image_exists "$tag"; then
    docker tag "$tag" "$IMAGE_REPO:$OWUI_VERSION"
    log "image $tag exists (tagged $IMAGE_REPO:$OWUI_VERSION); nothing to do"
    echo "$tag"
    return 0
  fi

  mkdir -p "$STAGE_ROOT"
  exec 9>"$STAGE_ROOT/.lock"
  flock 9
  if image_exists "$tag"; then   # built by a concurrent run while we waited for the lock
    docker tag "$tag" "$IMAGE_REPO:$OWUI_VERSION"; echo "$tag"; return 0
  fi
  build_venv

  local stage="$STAGE_ROOT/ctx-$hash" rootfs_img="$IMAGE_REPO-rootfs:$OWUI_VERSION-$hash" t0 t1 cid
  rm -rf "$stage"; mkdir -p "$stage/rootfs" "$stage/ctx"
  cp "$HERE/Dockerfile" "$HERE/entrypoint.sh" "$HERE/healthcheck.py" "$stage/ctx/"
  t0="$(now)"
  # 1. the base image's filesystem (docker export of a created, never started container) ...
  cid="$(docker create "$BASE_IMAGE" /bin/true)"
  docker export "$cid" | tar -C "$stage/rootfs" -xp --numeric-owner -f -
  docker rm -f "$cid" >/dev/null
  [ -x "$stage/rootfs/usr/bin/python3" ] || die "base image $BASE_IMAGE has no /usr/bin/python3"
  # ... plus the venv at its absolute path, as ONE tar stream that the daemon writes once
  log "docker import $rootfs_img (base rootfs $(du -sh "$stage/rootfs" | cut -f1) + venv)"
  (cd "$stage/rootfs" && tar --numeric-owner -cf - . -C / "${OWUI_VENV#/}") \
    | docker import -m "owb: $BASE_IMAGE + $OWUI_VENV (open-webui==$OWUI_VERSION)" - "$rootfs_img" >/dev/null
  t1="$(now)"
  record "docker-import-rootfs+venv" "$(since "$t0")"
  # 2. config + entrypoint on top (context: three small files; the classic builder works with the
  #    docker.io 20.10 engine and any client, and has no BuildKit frontend to pull)
  DOCKER_BUILDKIT=0 docker build --pull=false --build-arg "ROOTFS_IMAGE=$rootfs_img" --build-arg "RECIPE_HASH=$hash" \
    -t "$tag" -t "$IMAGE_REPO:$OWUI_VERSION" "$stage/ctx" >&2
  record "docker-build-config-layer" "$(since "$t1")"
  record "docker-image-total" "$(since "$t0")"
  rm -rf "$stage"
  # drop images of older recipes, in the background (deleting 80k files per image takes minutes on a
  # busy disk); `docker rmi` refuses images that a container still uses, which is what we want
  local old
  old="$(docker image ls --format '{{.Repository}}:{{.Tag}}' \
    | grep -E "^($IMAGE_REPO|$IMAGE_REPO-rootfs):$OWUI_VERSION-[0-9a-f]{12}\$" \
    | grep -v -e "^$tag\$" -e "^$rootfs_img\$" || true)"
  if [ -n "$old" ]; then
    log "removing older images in the background: $(echo $old)"
    # shellcheck disable=SC2086
    setsid nohup docker rmi $old >>"$CACHE_DIR/openwebui-rmi.log" 2>&1 </dev/null &
  fi
  log "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.2f GB", $1/1e9}'))"
  echo "$tag"
}

main "$@"
