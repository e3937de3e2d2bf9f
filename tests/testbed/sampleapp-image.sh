#!/usr/bin/env bash
# Build the sample Open WebUI application image FROM the base image (nothing is pulled):
#   local/owb-sampleapp:<hash>  and  local/owb-sampleapp:latest
# <hash> covers sampleapp/ (Dockerfile, writer.py), the fixture tarball and the base image id.
# Cached: skipped when the <hash> tag exists (FORCE=1 rebuilds).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FIXTURE="$REPO/tests/fixtures/openwebui-0.12.4/data.tar.gz"
BASE="$BASE_IMAGE_REPO:$BASE_IMAGE_TAG"

main() {
  "$TESTBED_DIR/docker.sh"
  [ -f "$FIXTURE" ] || die "fixture missing: $FIXTURE"
  image_exists "$BASE" || "$TESTBED_DIR/base-image.sh" >/dev/null
  local base_id hash image ctx
  base_id="$(docker image inspect -f '{{.Id}}' "$BASE")"
  hash="$(recipe_hash "$TESTBED_DIR/sampleapp" "$FIXTURE" "$base_id")"
  image="$SAMPLEAPP_IMAGE_REPO:$hash"
  if [ "${FORCE:-0}" != 1 ] && image_exists "$image"; then
    log "sample app image $image exists (cached)"
  else
    ctx="$(mktemp -d "$CACHE_DIR/sampleapp-ctx.XXXXXX")"
    cp "$TESTBED_DIR/sampleapp/Dockerfile" "$TESTBED_DIR/sampleapp/writer.py" "$ctx/"
    cp "$FIXTURE" "$ctx/data.tar.gz"
    log "building $image FROM $BASE"
    if ! timed "sampleapp build" quiet_to "$CACHE_DIR/sampleapp-build.log" docker build -q --build-arg "BASE_IMAGE=$BASE" \
        --label "org.sage-open-webui.testbed.recipe=$hash" -t "$image" "$ctx"; then
      cat "$CACHE_DIR/sampleapp-build.log" >&2
      rm -rf "$ctx"
      die "docker build of $image failed"
    fi
    rm -rf "$ctx"
    # older recipes of the sample app (ignored when a container still uses one)
    docker images --format '{{.Repository}}:{{.Tag}}' "$SAMPLEAPP_IMAGE_REPO" \
      | grep -v -e ":$hash\$" -e ':latest$' | xargs -r docker rmi >/dev/null 2>&1 || true
  fi
  docker tag "$image" "$SAMPLEAPP_IMAGE_REPO:latest"
  log "sample app image ready: $image (also $SAMPLEAPP_IMAGE_REPO:latest)"
  echo "$image"
}

with_lock sampleapp-image main "$@"
