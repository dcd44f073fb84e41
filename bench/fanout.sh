#!/usr/bin/env bash
# Cross-instance fan-out benchmark: two release-build server processes on one
# PostgreSQL database, N runner WebSockets on each (default 1,000), `available-jobs`
# published on the first; reports the delivery times on both instances (the second
# gets it through the fan-out). Not a test: read the figures.
#   bench/fanout.sh [N] [postgres|redis] [ROUNDS]
# Environment: BENCH_POSTGRES_URL (an admin URL a scratch database is created from,
# default postgres://postgres@127.0.0.1:5432/test); the redis backend starts its own
# redis-server on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
backend="${2:-postgres}"
rounds="${3:-5}"
admin="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < 4 * n + 1000 )); then
    echo "open-file limit $(ulimit -n) is too low for 2 x $n sockets" >&2
    exit 1
fi
cargo build --release --example fanout-bench --quiet
target_dir="${CARGO_TARGET_DIR:-target}"

db="prc_bench_fanout_$$"
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
redis_pid=""
cleanup() {
    [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null || true
    psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT
url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$admin" "$db")"
url="$url$([[ "$url" == *\?* ]] && echo '&' || echo '?')sslmode=disable"

args=(--sockets "$n" --rounds "$rounds" --database-url "$url" --fanout-backend "$backend"
      --channel "prc-bench-$$")
if [[ "$backend" == redis ]]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no >/dev/null &
    redis_pid=$!
    sleep 0.5
    args+=(--redis-url "redis://127.0.0.1:$port")
fi
mkdir -p bench/results
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$target_dir/release/examples/fanout-bench" "${args[@]}" | tee "bench/results/fanout-$backend-$n.txt"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
