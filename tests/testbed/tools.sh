#!/usr/bin/env bash
# The command-line tools the off-host targets use on the test machine: age (encryption), rclone (the rclone
# target and the benchmarks' reference), sshd (tests/testbed/sftp.sh), python3-boto3 (the s3 target under
# the system Python, as on a host), apprise (the Apprise notifications, tests/integration/test_signals.py),
# chromium (the fleet status page). Installs the missing ones with apt; `make unit` and `up.sh` run it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
command -v age >/dev/null 2>&1 || missing+=(age)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || missing+=(python3-boto3)  # the s3 target as on a host
command -v apprise >/dev/null 2>&1 || missing+=(apprise)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the status page in a real browser (test_status_page.py)
if [ "${#missing[@]}" = 0 ]; then
  log "age, rclone, sshd, python3-boto3, apprise and chromium are installed"
  exit 0
fi
need_root
log "installing ${missing[*]} with apt"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}
