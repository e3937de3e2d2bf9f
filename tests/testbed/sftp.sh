#!/usr/bin/env bash
# An SFTP server on loopback for the rclone target's tests: OpenSSH's sshd as a plain process.
#   sftp.sh [start] PORT   start (or find running) sshd on 127.0.0.1:PORT; prints an rclone config section
#                          named sftp-PORT (key auth as user $SFTP_USER, files under its home in PORT/)
#   sftp.sh stop PORT      stop the sshd this script started on PORT (the files stay)
# State (host key, client keys, sshd_config, pid, log): $CACHE_DIR/sftp-PORT/. The client key is
# id_ed25519 there; other_ed25519 is a second key that is NOT authorized (for "wrong key" tests).
# The user is a dedicated unprivileged account (created when missing), so permissions apply to it.
# Root only (useradd, sshd). Installs openssh-server with apt when sshd is missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SFTP_USER="${SFTP_USER:-owbsftp}"

answers() {  # answers PORT -> 0 when an SSH server greets on 127.0.0.1:PORT
  timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"'; head -c 4 <&3' 2>/dev/null | grep -q '^SSH-'
}

ensure_sshd() {
  [ -x /usr/sbin/sshd ] && return 0
  need_root
  log "sshd not found: installing openssh-server with apt"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >&2 || {
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >&2
  }
}

ensure_user() {
  if ! id "$SFTP_USER" >/dev/null 2>&1; then
    log "creating user $SFTP_USER"
    useradd --system --create-home --home-dir "/var/lib/$SFTP_USER" --shell /bin/sh "$SFTP_USER"
  fi
  # A locked account (no password at all) is refused by sshd even with a key; '*' is "no password login".
  usermod -p '*' "$SFTP_USER"
}

prepare() {  # prepare PORT: keys, config, the user's directory for PORT
  local port="$1" dir="$CACHE_DIR/sftp-$1" home
  home="$(getent passwd "$SFTP_USER" | cut -d: -f6)"
  local keys="/run/owb-sftp"  # sshd reads authorized_keys as the user: not below the clone, which may be 0700
  mkdir -p "$dir" /run/sshd "$keys"
  chmod 755 "$keys"
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C owb-test -f "$dir/id_ed25519"
  [ -f "$dir/other_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C owb-other -f "$dir/other_ed25519"
  install -m 0644 "$dir/id_ed25519.pub" "$keys/authorized_keys-$port"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"
  install -d -o "$SFTP_USER" -m 0755 "$home/$port"
  cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $keys/authorized_keys-$port
StrictModes no
AllowUsers $SFTP_USER
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
PermitRootLogin no
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF
}

snippet() {  # snippet PORT -> rclone config section on stdout
  local port="$1" dir="$CACHE_DIR/sftp-$1" home
  home="$(getent passwd "$SFTP_USER" | cut -d: -f6)"
  cat <<EOF
[sftp-$port]
type = sftp
host = 127.0.0.1
port = $port
user = $SFTP_USER
key_file = $dir/id_ed25519
known_hosts_file = $dir/known_hosts
shell_type = unix
md5sum_command = md5sum
sha1sum_command = sha1sum
# files: sftp-$port:$port/... = $home/$port/...
EOF
}

start() {
  local port="$1" dir="$CACHE_DIR/sftp-$1" i
  need_root
  ensure_sshd
  ensure_user
  prepare "$port"
  if answers "$port"; then
    log "sshd already answers on 127.0.0.1:$port"
    snippet "$port"
    return 0
  fi
  /usr/sbin/sshd -t -f "$dir/sshd_config" || die "sshd rejects $dir/sshd_config"
  log "starting sshd on 127.0.0.1:$port (log: $dir/sshd.log)"
  setsid nohup /usr/sbin/sshd -D -e -f "$dir/sshd_config" >>"$dir/sshd.log" 2>&1 </dev/null &
  echo $! >"$dir/sshd.pid.started"
  for i in $(seq 1 50); do
    if answers "$port"; then
      log "sshd answers on 127.0.0.1:$port after $(awk -v i="$i" 'BEGIN{printf "%.1f", i/10}')s"
      snippet "$port"
      return 0
    fi
    kill -0 "$(cat "$dir/sshd.pid.started")" 2>/dev/null || { tail -n 20 "$dir/sshd.log" >&2; die "sshd exited (port $port busy?)"; }
    sleep 0.1
  done
  die "sshd did not answer on 127.0.0.1:$port within 5s; see $dir/sshd.log"
}

stop() {
  local port="$1" dir="$CACHE_DIR/sftp-$1" pid
  pid="$(cat "$dir/sshd.pid.started" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "stopped sshd on port $port"
  fi
  rm -f "$dir/sshd.pid.started"
}

case "${1:-}" in
  stop) stop "${2:?port}" ;;
  start) start "${2:?port}" ;;
  *) start "${1:?usage: sftp.sh [start|stop] PORT}" ;;
esac
