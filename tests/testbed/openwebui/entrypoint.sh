#!/bin/sh
# Start Open WebUI like the official image's start.sh does:
# - without WEBUI_SECRET_KEY in the environment, use /app/backend/.webui_secret_key,
#   generating a random one first when the file does not exist (it lives in the container
#   layer, not in the data volume: recreating the container loses it, as upstream);
# - then exec the server (PID 1, so `docker stop` sends SIGTERM straight to it).
set -eu
cd /app/backend
KEY_FILE="${WEBUI_SECRET_KEY_FILE:-/app/backend/.webui_secret_key}"
if [ -z "${WEBUI_SECRET_KEY:-}" ] && [ -z "${WEBUI_JWT_SECRET_KEY:-}" ]; then
    echo "Loading WEBUI_SECRET_KEY from file, not provided as an environment variable."
    if [ ! -e "$KEY_FILE" ]; then
        echo "Generating WEBUI_SECRET_KEY"
        # same recipe as upstream start.sh: 12 random bytes, base64
        (umask 077 && head -c 12 /dev/urandom | base64 >"$KEY_FILE")
    fi
    echo "Loading WEBUI_SECRET_KEY from $KEY_FILE"
    WEBUI_SECRET_KEY="$(cat "$KEY_FILE")"
fi
export WEBUI_SECRET_KEY
exec /opt/owb-openwebui-venv/bin/open-webui serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}" "$@"
