#!/usr/bin/env bash
# A small dedicated file system for the filesystem target's tests ("target full", read-only).
#   smallfs.sh mount DIR [SIZE]   mount a tmpfs of SIZE (default 8m) at DIR (created); idempotent
#                                 (a tmpfs already there is left as it is); falls back to a loop-mounted
#                                 ext4 image under $CACHE_DIR when tmpfs cannot be mounted
#   smallfs.sh ro DIR | rw DIR    remount read-only / read-write
#   smallfs.sh umount DIR         unmount (and free a loop image it made)
# Root only. Prints the mount point.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fstype() { findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null || true; }

do_mount() {
  local dir="$1" size="${2:-8m}" img
  need_root
  mkdir -p "$dir"
  if [ -n "$(fstype "$dir")" ]; then
    log "$dir is mounted already ($(fstype "$dir"))"
  elif mount -t tmpfs -o "size=$size,mode=0755" owb-smallfs "$dir" 2>/dev/null; then
    log "tmpfs of $size at $dir"
  else
    img="$CACHE_DIR/smallfs-$(echo "$dir" | sha256sum | cut -c1-12).img"
    truncate -s "$size" "$img"
    mkfs.ext4 -q -F "$img"
    mount -o loop "$img" "$dir" || die "cannot mount a tmpfs or a loop ext4 at $dir (no mount privilege?)"
    log "loop ext4 of $size at $dir ($img)"
  fi
  echo "$dir"
}

do_umount() {
  local dir="$1" src
  [ -n "$(fstype "$dir")" ] || return 0
  src="$(findmnt -n -o SOURCE --mountpoint "$dir")"
  umount "$dir"
  case "$src" in /dev/loop*) losetup -d "$src" 2>/dev/null || true ;; esac
  rm -f "$CACHE_DIR/smallfs-$(echo "$dir" | sha256sum | cut -c1-12).img"
  log "unmounted $dir"
}

case "${1:-}" in
  mount) do_mount "${2:?dir}" "${3:-8m}" ;;
  ro) mount -o remount,ro "${2:?dir}" ;;
  rw) mount -o remount,rw "${2:?dir}" ;;
  umount) do_umount "${2:?dir}" ;;
  *) die "usage: smallfs.sh mount DIR [SIZE] | ro DIR | rw DIR | umount DIR" ;;
esac
