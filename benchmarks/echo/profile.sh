#!/bin/sh
# Where an echo server's CPU time goes: perf record (call graphs) of one server under the
# benchmark's client, set up as scripts/bench sets it up (server and client pinned apart).
#
#   benchmarks/echo/profile.sh BUILD_DIR OUT.perf.data SERVER [ARGS...]
#   e.g. benchmarks/echo/profile.sh build-release /tmp/couring.data echo/couring_echo --backend io_uring
#        perf report -i /tmp/couring.data --no-children --sort dso,symbol
# Environment: CONNECTIONS (200), SIZE (512), DURATION (3).
set -eu
build=$1 out=$2 server=$3
shift 3
here=$(cd "$(dirname "$0")/.." && pwd)
cpus=$(nproc)
exec python3 "$here/common/serve_and_drive.py" --server-cpu $((cpus - 1)) --client-cpu 0 \
  "$build/benchmarks/$server" "$@" --port '{port}' \
  --client perf record -q -g -o "$out" -p '{server_pid}' -- \
  "$build/benchmarks/echo/echo_load" --port '{port}' --server-pid '{server_pid}' \
  --connections "${CONNECTIONS:-200}" --size "${SIZE:-512}" --seconds "${DURATION:-3}" --warmup 0.3
