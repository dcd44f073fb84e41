#!/usr/bin/env bash
# Socket hub benchmark: holds N WebSocket runner sockets (default 10,000) on a release
# build of the service and reports the server's RSS and the time until 50/99/100 % of
# the sockets received one `available-jobs`. Not a test: read the figures.
#   bench/sockets.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
# Client and server each hold N sockets: raise the open-file limit.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < n + 1000 )); then
    echo "open-file limit $(ulimit -n) is too low for $n sockets" >&2
    exit 1
fi
cargo build --release --example socket-bench --quiet
target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p bench/results
"$target_dir/release/examples/socket-bench" --sockets "$n" | tee "bench/results/sockets-$n.txt"
