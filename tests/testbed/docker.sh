#!/usr/bin/env bash
# Make sure a Docker engine answers on /var/run/docker.sock.
# Idempotent: installs docker.io with apt when dockerd is missing, starts dockerd in the
# background when `docker info` does not answer, waits until it does.
# Env: DOCKER_WAIT (seconds, default 60).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG="$CACHE_DIR/dockerd.log"
DOCKER_WAIT="${DOCKER_WAIT:-60}"

docker_answers() {
  timeout 10 docker info >/dev/null 2>&1
}

install_docker() {
  need_root
  log "dockerd not found: installing docker.io with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends docker.io iptables ca-certificates >&2
}

start_dockerd() {
  need_root
  # A stale pid file from a dead daemon blocks a new one.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  if [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    log "dockerd already running (pid $(cat /var/run/docker.pid)), waiting for it"
    return 0
  fi
  # containerd ships with docker.io; dockerd starts its own when none runs.
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  echo $! >"$CACHE_DIR/dockerd.pid"
}

main() {
  if ! command -v docker >/dev/null 2>&1 && ! command -v dockerd >/dev/null 2>&1; then
    install_docker
  fi
  if docker_answers; then
    log "docker engine answers"
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    install_docker
  fi
  command -v docker >/dev/null 2>&1 || die "docker client missing after installing docker.io"
  start_dockerd
  local i
  for i in $(seq 1 "$DOCKER_WAIT"); do
    if docker_answers; then
      log "docker engine answers after ${i}s ($(docker version --format '{{.Server.Version}} API {{.Server.APIVersion}}' 2>/dev/null))"
      return 0
    fi
    if [ -f "$CACHE_DIR/dockerd.pid" ] && ! kill -0 "$(cat "$CACHE_DIR/dockerd.pid")" 2>/dev/null \
       && ! { [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; }; then
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      die "dockerd exited; see $DOCKERD_LOG"
    fi
    sleep 1
  done
  tail -n 10 "$DOCKERD_LOG" >&2 || true
  if [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    die "dockerd (pid $(cat /var/run/docker.pid)) runs but \`docker info\` did not answer within ${DOCKER_WAIT}s (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}); see $DOCKERD_LOG"
  fi
  die "docker engine did not answer within ${DOCKER_WAIT}s; see $DOCKERD_LOG"
}

main "$@"
