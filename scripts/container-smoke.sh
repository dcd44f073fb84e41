#!/usr/bin/env bash
# Builds the image with podman and proves it: the HEALTHCHECK is in the image and passes,
# apt is intact (`apt-get check`, a package installs in a derived container), the service,
# ffmpeg and ffprobe find their libraries, /readyz answers 200 against the local
# PostgreSQL, `registration-token create` works inside the container, a runner registers
# with the token, and ffmpeg transcodes as a non-root user. Needs podman (see
# ../shared/tools/container-base-images.sh for machines without registry access) and
# PostgreSQL on 127.0.0.1:5432 (trust auth). Safe to run as `script > log 2>&1`.
# usage: scripts/container-smoke.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

image=localhost/peertube-runner-connector
name=prc-smoke-$$
port=${SMOKE_PORT:-18080}
pg_admin=${SMOKE_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
db=prc_smoke_$$

cleanup() {
    podman rm -f "$name" >/dev/null 2>&1 || true
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# A throwaway container from the image, without the periodic health check (which podman
# runs through systemd timers).
in_image() { podman run --rm --no-healthcheck "$@"; }

if [[ "${1:-}" != --no-build ]]; then
    # podman's default (OCI) image format has no HEALTHCHECK: the Docker format keeps it.
    echo "==> podman build --format docker"
    time podman build --format docker --network host -t "$image" .
fi
size=$(podman image inspect "$image" --format '{{.Size}}')
echo "image size: $size bytes ($((size / 1000000)) MB)"

echo "==> HEALTHCHECK in the image"
health=$(podman image inspect "$image" --format '{{json .HealthCheck}}')
echo "$health"
grep -q '"healthcheck"' <<<"$health" || { echo "the image has no HEALTHCHECK" >&2; exit 1; }

echo "==> apt is intact in the image"
in_image --user 0 --entrypoint sh "$image" -c \
    'apt-get check -q && dpkg --audit && echo "apt-get check and dpkg --audit: clean"'

echo "==> the service, ffmpeg and ffprobe find every library they link"
in_image --entrypoint sh "$image" -c '
    out=$(ldd /usr/local/bin/peertube-runner-connector /usr/bin/ffmpeg /usr/bin/ffprobe)
    if echo "$out" | grep "not found"; then exit 1; fi
    echo "ldd: nothing missing"'

psql "$pg_admin" -qc "CREATE DATABASE $db"
echo "==> podman run"
podman run -d --name "$name" --network host \
    -e PRC_SERVER__BIND="127.0.0.1:$port" \
    -e PRC_SERVER__PUBLIC_URL="http://127.0.0.1:$port" \
    -e PRC_DATABASE__URL="postgres://postgres@127.0.0.1:5432/$db" \
    -e PRC_AUTH__API_KEYS=smoke-api-key \
    "$image" >/dev/null

for _ in $(seq 1 60); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.5
done
echo "==> GET /readyz"
curl -fsS -w ' (HTTP %{http_code})\n' "http://127.0.0.1:$port/readyz"

echo "==> the image's HEALTHCHECK, run in the container"
podman healthcheck run "$name"
echo "healthy"

echo "==> registration-token create inside the container"
token=$(podman exec "$name" peertube-runner-connector registration-token create)
echo "$token"
[[ "$token" == ptrrt-* ]]

echo "==> POST /api/v1/runners/register"
body=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"registrationToken\":\"$token\",\"name\":\"smoke-runner\",\"version\":\"0.0.21\"}" \
    "http://127.0.0.1:$port/api/v1/runners/register")
echo "$body"
grep -q '"runnerToken":"ptrt-' <<<"$body"

echo "==> runner list inside the container"
list=$(podman exec "$name" peertube-runner-connector runner list)
echo "$list"
grep -q smoke-runner <<<"$list"

echo "==> the private API takes the key given as a plain string"
curl -fsS -o /dev/null -w 'GET /api/v1/videos (HTTP %{http_code})\n' \
    -H 'Authorization: Bearer smoke-api-key' "http://127.0.0.1:$port/api/v1/videos"

echo "==> non-root user; ffmpeg and ffprobe work in the image"
podman exec "$name" sh -c 'id -u; ffprobe -version | head -n1;
  ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine -t 1 \
    -c:v libx264 -pix_fmt yuv420p -c:a aac /tmp/smoke.mp4 &&
  ffmpeg -nostdin -v error -i /tmp/smoke.mp4 -frames:v 1 -y /tmp/smoke.jpg &&
  ffprobe -v error -show_entries stream=codec_name -of csv=p=0 /tmp/smoke.mp4 | tr "\n" " "; echo'

echo "==> a derived container can install packages"
in_image --user 0 --network host --entrypoint sh "$image" -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends jq >/dev/null && jq --version'

echo "container smoke test passed"
