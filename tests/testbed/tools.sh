#!/usr/bin/env bash
# The command-line tools the off-host targets use on the test machine: age (encryption), rclone (the rclone
# target and the benchmarks' reference), sshd (tests/testbed/sftp.sh). Installs the missing ones with apt.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
command -v age >/dev/null 2>&1 || missing+=(age)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ "${#missing[@]}" = 0 ]; then
  log "age, rclone and sshd are installed"
  exit 0
fi
need_root
log "installing ${missing[*]} with apt"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}
