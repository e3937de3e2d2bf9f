#!/usr/bin/env bash
# One entry for the test bed (used by `make testbed` / `make test`):
#   docker engine (tests/testbed/docker.sh), base image (base-image.sh), sample app image
#   (sampleapp-image.sh) and, when present and executable, the real Open WebUI image
#   (tests/testbed/openwebui/build.sh), the off-host tools age, rclone and sshd (tools.sh).
#   With S3_PORT set, also an S3 endpoint (s3.sh) on that port.
# Every step is idempotent and cached; prints what it did and how long it took.
# Env: SKIP_OPENWEBUI=1 skips the real Open WebUI image.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

timed "docker engine" "$TESTBED_DIR/docker.sh"
timed "age, rclone, sshd" "$TESTBED_DIR/tools.sh"
timed "base image" "$TESTBED_DIR/base-image.sh" >/dev/null
timed "sample app image" "$TESTBED_DIR/sampleapp-image.sh" >/dev/null
if [ "${SKIP_OPENWEBUI:-0}" != 1 ] && [ -x "$TESTBED_DIR/openwebui/build.sh" ]; then
  timed "real Open WebUI image" "$TESTBED_DIR/openwebui/build.sh"
fi
if [ -n "${S3_PORT:-}" ]; then
  timed "S3 endpoint" "$TESTBED_DIR/s3.sh" "$S3_PORT"
fi
log "test bed up: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^local/owb-' | sort | tr '\n' ' ')"
