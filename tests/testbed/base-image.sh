#!/usr/bin/env bash
# Build the systemd-capable Debian 12 base image for test hosts and the sample app:
#   local/owb-debian-systemd:<recipe-hash>  and  local/owb-debian-systemd:bookworm
# Built with debootstrap (--variant=minbase) + `docker import`; nothing is pulled.
# Cached: skipped when the <recipe-hash> tag exists (FORCE=1 rebuilds, VERIFY=1 re-checks boot).
#
# Run it as a systemd host (see docs/../test-bed.md platform):
#   docker run -d --network host --cgroupns host --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
#     --tmpfs /run --tmpfs /run/lock --tmpfs /tmp -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
#     local/owb-debian-systemd:bookworm            # CMD is /lib/systemd/systemd
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# python3-cffi-backend: apprise needs python3-cryptography, which depends on a virtual package (python3-cffi-backend-api-*)
# that debootstrap does not resolve: name the package that provides it.
PACKAGES=(
  python3 python3-apt systemd systemd-sysv dbus sqlite3 rsync ca-certificates
  python3-docker python3-boto3 python3-jmespath python3-requests python3-yaml
  rclone age apprise python3-cffi-backend cron curl procps iproute2 tzdata gnupg sudo less xz-utils zstd gzip tar
)

IMPORT_CHANGES=('ENV container=docker' 'ENV LANG=C.UTF-8' 'CMD ["/lib/systemd/systemd"]')
EXTRA_DOCKERFILE='STOPSIGNAL SIGRTMIN+3'

verify_boot() {
  local name="owb-base-verify-$$" state="" i
  log "verifying that systemd boots as PID 1 in $IMAGE"
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --network host --cgroupns host --cap-add SYS_ADMIN \
    --security-opt seccomp=unconfined --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw "$IMAGE" >/dev/null
  for i in $(seq 1 60); do
    state="$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in
      running|degraded) break ;;
    esac
    sleep 1
  done
  local pid1
  pid1="$(docker exec "$name" cat /proc/1/comm 2>/dev/null || true)"
  if [ "$state" != running ] && [ "$state" != degraded ]; then
    docker logs "$name" 2>&1 | tail -n 40 >&2 || true
    docker rm -f "$name" >/dev/null 2>&1 || true
    die "systemd did not boot in $IMAGE (is-system-running: '${state:-no answer}')"
  fi
  if [ "$state" = degraded ]; then
    log "failed units: $(docker exec "$name" systemctl --failed --no-legend --plain 2>/dev/null | awk '{print $1}' | tr '\n' ' ')"
  fi
  docker rm -f "$name" >/dev/null 2>&1 || true
  log "systemd boots: PID 1 = $pid1, is-system-running = $state (after ~${i}s)"
}

prepare_rootfs() {
  local root="$1"
  # systemd in a container: a fresh machine-id per container (empty file -> generated at boot)
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  # units that have no business in a container (no udev, no consoles, no kernel mounts to manage)
  local u
  for u in systemd-udevd.service systemd-udev-trigger.service systemd-udevd-control.socket \
           systemd-udevd-kernel.socket systemd-modules-load.service systemd-remount-fs.service \
           sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
           sys-fs-fuse-connections.mount dev-hugepages.mount getty.target console-getty.service \
           getty@tty1.service systemd-firstboot.service systemd-logind.service \
           apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
  done
  # apt inside the image: full bookworm sources, no recommends, no service starts from maintainer scripts
  cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SRC
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$root/etc/apt/apt.conf.d/90testbed-norecommends"
  echo Etc/UTC >"$root/etc/timezone"
  ln -sf /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
  echo owb-testhost >"$root/etc/hostname"
  # slim it down
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
         "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/log/*.log
}

build() {
  need_root
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
  }
  local root="$CACHE_DIR/rootfs-$HASH" old
  for old in "$CACHE_DIR"/rootfs-*; do   # leftovers of other recipes
    [ -e "$old" ] && [ "$old" != "$root" ] && remove_rootfs "$old"
  done
  if [ -f "$root/.testbed-complete" ]; then
    log "reusing finished rootfs $root"
  else
    remove_rootfs "$root"
    mkdir -p "$root"
    local inc
    inc="$(IFS=,; echo "${PACKAGES[*]}")"
    log "debootstrap --variant=minbase $SUITE ($inc), log: $CACHE_DIR/debootstrap-$HASH.log"
    timed "debootstrap" run_debootstrap "$inc" "$root" \
      || { tail -n 40 "$CACHE_DIR/debootstrap-$HASH.log" >&2; die "debootstrap failed (log: $CACHE_DIR/debootstrap-$HASH.log)"; }
    unmount_under "$root"
    prepare_rootfs "$root"
    touch "$root/.testbed-complete"
  fi
  log "rootfs: $(du -sh "$root" | cut -f1)"
  # import (CMD/ENV/LABEL only), then one tiny build step for what import cannot set (STOPSIGNAL)
  unmount_under "$root"
  local change_args=() c
  for c in "${IMPORT_CHANGES[@]}"; do change_args+=(--change "$c"); done
  timed "docker import" import_rootfs "$root" "${change_args[@]}"
  printf 'FROM %s\n%s\nLABEL org.sage-open-webui.testbed.recipe=%s\n' "$IMAGE-rootfs" "$EXTRA_DOCKERFILE" "$HASH" \
    | docker build -q -t "$IMAGE" - >"$CACHE_DIR/base-build.log" 2>&1 \
    || { cat "$CACHE_DIR/base-build.log" >&2; die "docker build of $IMAGE failed"; }
  docker rmi "$IMAGE-rootfs" >/dev/null 2>&1 || true
  remove_rootfs "$root"
}

import_rootfs() {
  local root="$1"; shift
  tar -C "$root" --numeric-owner --one-file-system --exclude=./.testbed-complete \
    --exclude='./proc/*' --exclude='./sys/*' -c . | docker import "$@" - "$IMAGE-rootfs" >/dev/null
}

# mounts debootstrap may leave behind (proc, sys, dev bind) when something kept them busy
mounts_under() {
  awk -v r="$1/" 'index($2 "/", r) == 1 {print $2}' /proc/self/mounts | sort -r
}

unmount_under() {
  local m i
  for i in 1 2 3 4 5; do
    [ -z "$(mounts_under "$1")" ] && return 0
    for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || true; done
    sleep 1
  done
  for m in $(mounts_under "$1"); do log "lazy unmount of busy $m"; umount -l "$m" || true; done
  [ -z "$(mounts_under "$1")" ] || die "cannot unmount $(mounts_under "$1" | tr '\n' ' ')"
}

remove_rootfs() {
  [ -e "$1" ] || return 0
  unmount_under "$1"
  rm -rf --one-file-system "$1"
}

# .deb cache outside the work tree: survives fresh clones on the same machine (a rebuild then downloads nothing)
DEB_CACHE="${DEBOOTSTRAP_CACHE:-/var/cache/owb-testbed/debootstrap-$SUITE}"

run_debootstrap() {
  mkdir -p "$DEB_CACHE"
  debootstrap --variant=minbase --cache-dir="$DEB_CACHE" --include="$1" "$SUITE" "$2" "$MIRROR" \
    >"$CACHE_DIR/debootstrap-$HASH.log" 2>&1
}

# The cache key: what goes into the image (not log wording or helper code).
recipe_text() {
  printf 'suite=%s mirror=%s\n' "$SUITE" "$MIRROR"
  printf 'pkg %s\n' "${PACKAGES[@]}"
  printf 'change %s\n' "${IMPORT_CHANGES[@]}"
  printf 'dockerfile %s\n' "$EXTRA_DOCKERFILE"
  declare -f prepare_rootfs
}
HASH="$(recipe_text | sha256sum | cut -c1-12)"
IMAGE="$BASE_IMAGE_REPO:$HASH"
ALIAS="$BASE_IMAGE_REPO:$BASE_IMAGE_TAG"

main() {
  "$TESTBED_DIR/docker.sh"
  if [ "${FORCE:-0}" != 1 ] && image_exists "$IMAGE"; then
    log "base image $IMAGE exists (cached)"
    docker tag "$IMAGE" "$ALIAS"
    [ "${VERIFY:-0}" = 1 ] && verify_boot
  else
    timed "base image build" build
    docker tag "$IMAGE" "$ALIAS"
    verify_boot
  fi
  log "base image ready: $IMAGE (also $ALIAS)"
  echo "$IMAGE"
}

with_lock base-image main "$@"
