#!/usr/bin/env bash
# Start (idempotently) an S3 endpoint on loopback: moto server bound to 127.0.0.1.
#   s3.sh [PORT]        start (or find running) on PORT (default $S3_PORT or 5000); prints http://127.0.0.1:PORT
#   s3.sh stop [PORT]   stop the one this script started on PORT
# Python: $MOTO_PYTHON, else $REPO/.venv (pip installs moto[server] into it when missing), else a venv
# under $REPO/.cache/testbed/moto-venv. Log: $CACHE_DIR/moto-PORT.log. Objects live in memory.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MOTO_SPEC="${MOTO_SPEC:-moto[server]==5.2.5}"

answers() {  # answers PORT -> 0 when an S3 ListBuckets answers on 127.0.0.1:PORT
  "${PY:-python3}" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=2)
body = r.read()
sys.exit(0 if r.status == 200 and b"ListAllMyBucketsResult" in body else 1)
PY
}

pick_python() {
  if [ -n "${MOTO_PYTHON:-}" ]; then PY="$MOTO_PYTHON"; return; fi
  if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; return; fi
  local venv="$CACHE_DIR/moto-venv"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    python3 -m venv "$venv" || {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
      python3 -m venv "$venv"
    }
  fi
  PY="$venv/bin/python"
}

ensure_moto() {
  if ! "$PY" -c 'import moto.server, flask, werkzeug' >/dev/null 2>&1; then
    log "installing $MOTO_SPEC into $($PY -c 'import sys; print(sys.prefix)')"
    "$PY" -m pip install --quiet "$MOTO_SPEC" >&2
  fi
}

start() {
  local port="$1"
  local pidf="$CACHE_DIR/moto-$port.pid" logf="$CACHE_DIR/moto-$port.log"
  PY=python3
  if answers "$port"; then
    log "S3 endpoint already answers on 127.0.0.1:$port"
    echo "http://127.0.0.1:$port"
    return 0
  fi
  pick_python
  ensure_moto
  log "starting moto server on 127.0.0.1:$port (log: $logf)"
  setsid nohup "$PY" -m moto.server -H 127.0.0.1 -p "$port" >"$logf" 2>&1 </dev/null &
  echo $! >"$pidf"
  local i
  for i in $(seq 1 150); do
    if answers "$port"; then
      log "S3 endpoint answers on 127.0.0.1:$port after $(awk -v i="$i" 'BEGIN{printf "%.1f", i/5}')s"
      echo "http://127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$pidf")" 2>/dev/null; then
      tail -n 20 "$logf" >&2 || true
      die "moto server exited (port $port busy?); see $logf"
    fi
    sleep 0.2
  done
  die "moto server did not answer on 127.0.0.1:$port within 30s; see $logf"
}

stop() {
  local port="$1"
  local pidf="$CACHE_DIR/moto-$port.pid"
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    kill "$(cat "$pidf")" && log "stopped moto server on port $port"
  fi
  rm -f "$pidf"
}

case "${1:-}" in
  stop) stop "${2:-${S3_PORT:-5000}}" ;;
  *) start "${1:-${S3_PORT:-5000}}" ;;
esac
