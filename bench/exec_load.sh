#!/bin/sh
# bench/exec_load.sh: load test of Goma Exec (/cxx-compiler-service/e), a
# wrapper of the load mode of t/exec/goma_exec.py (an independent Goma
# client: python3-protobuf, stubs from Debian's protoc).
#
# Against any deployment (the compile runs once for real to warm the
# action cache, then the same request is replayed):
#
#   bench/exec_load.sh --server http://HOST:PORT [-n 2000] [-c 16] [-r 1]
#       [--error-log /var/log/remoteexec_proxy/error.log] [--auth-file F]
#       -- gcc -c src/a.c -o out/a.o -Iinclude
#
# prints requests/s and the client-measured latency p50/p90/p99; with
# --error-log (the server's error log, level notice or lower, readable
# here) also the proxy's own share per request from its "exec ..." summary
# lines:  own = total - (check cache + check missing + upload blobs +
# execute + response), i.e. inventory + input tree + setup and the gaps
# between stages; "own+resp" adds the response stage back (it mixes the
# conversion of outputs with CAS reads: an upper bound). The summary's
# total starts after the request body is decoded, so HTTP parsing,
# decompression and the answer's encoding are not in either figure.
#
# Self-contained (what `make bench` runs for the "exec" benchmark):
#
#   bench/exec_load.sh --self [-n 2000] [-c 16]
#
# starts $RX_OBJS/remoteexec_proxy (default objs) in a temporary prefix
# with the embedded executor (or, with --reapi, the python REAPI test
# server t/reapi/reapi_server.py --real-exec as the backend), compiles a
# small C file once to warm the action cache, runs the load, prints the
# figures, the goal line and a RESULT line, and stops everything. Loopback
# only; every wait is bounded.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
tool="$root/t/exec/goma_exec.py"

n=2000
c=16
r=1
self=0
reapi=0
server=
errlog=
auth=

usage() {
    sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case "$1" in
    -n) n=$2; shift 2 ;;
    -c) c=$2; shift 2 ;;
    -r) r=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --error-log) errlog=$2; shift 2 ;;
    --auth-file) auth=$2; shift 2 ;;
    --self) self=1; shift ;;
    --reapi) reapi=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "exec_load.sh: unknown argument $1" >&2; usage ;;
    esac
done

if [ "$self" = 0 ]; then
    [ -n "$server" ] && [ $# -gt 0 ] || usage
    set -- --server "$server" --load "$n" --concurrency "$c" --repeat "$r" \
        ${errlog:+--error-log "$errlog"} ${auth:+--auth-file "$auth"} \
        -- "$@"
    exec "$py" "$tool" "$@"
fi

# ------------------------------------------------------------ --self

objs=${RX_OBJS:-$root/objs}
bin="$objs/remoteexec_proxy"
[ -x "$bin" ] || { echo "exec_load.sh: $bin not built" >&2; exit 1; }

tmp=$(mktemp -d /tmp/rx-bench-exec-XXXXXX)
chmod 0711 "$tmp"       # the executor's actions run as nobody under root
daemon=
reapi_pid=

cleanup() {
    if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
        kill -QUIT "$daemon" 2>/dev/null
        i=0
        while kill -0 "$daemon" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1; i=$((i + 1))
        done
        kill -KILL "$daemon" 2>/dev/null
    fi
    if [ -n "$reapi_pid" ]; then
        kill -TERM "$reapi_pid" 2>/dev/null
        wait "$reapi_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

backend=
if [ "$reapi" = 1 ]; then
    mkfifo "$tmp/reapi.in"
    "$py" "$root/t/reapi/reapi_server.py" --listen 127.0.0.1:0 --real-exec \
        --no-control --max-lifetime 600 --stubs-dir "$tmp/stubs" \
        <"$tmp/reapi.in" >"$tmp/reapi.out" 2>"$tmp/reapi.err" &
    reapi_pid=$!
    exec 9>"$tmp/reapi.in"      # its stdin: it exits when we do
    i=0
    while ! grep -q '^READY' "$tmp/reapi.out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 300 ] && { echo "reapi_server.py did not start" >&2;
                            cat "$tmp/reapi.err" >&2; exit 1; }
        sleep 0.1
    done
    rport=$(sed -n 's/^PORT //p' "$tmp/reapi.out")
    backend="backend: {address: \"127.0.0.1:$rport\", insecure: on}"
    what="python REAPI test server (--real-exec)"
else
    backend="executor: {root: executor}"
    what="embedded executor"
fi

cat >"$tmp/remoteexec_proxy.yaml" <<EOF
listen: ["127.0.0.1:$port"]
pid: remoteexec_proxy.pid
log: {error: error.log, level: notice}
file_store: {path: files}
$backend
EOF

"$bin" -c "$tmp/remoteexec_proxy.yaml" -p "$tmp" >"$tmp/stderr" 2>&1 &
daemon=$!
i=0
while ! grep -q '\] [0-9]*: ready: ' "$tmp/error.log" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$daemon" 2>/dev/null; then
        echo "remoteexec_proxy did not start" >&2
        cat "$tmp/error.log" "$tmp/stderr" >&2 2>/dev/null
        exit 1
    fi
    sleep 0.1
done

mkdir -p "$tmp/proj/src" "$tmp/proj/include" "$tmp/proj/out"
printf '#define GREETING "hello, bench"\nint hello(void);\n' \
    >"$tmp/proj/include/hello.h"
printf '#include <stdio.h>\n#include "hello.h"\n%s\n' \
    'int hello(void) { return puts(GREETING); }' >"$tmp/proj/src/hello.c"

echo "exec: remoteexec_proxy with the $what, $n requests, $c in flight"
echo "exec: request = gcc -c src/hello.c -o out/hello.o -Iinclude" \
     "(contents embedded), warmed: action-cache hits"
"$py" "$tool" --server "http://127.0.0.1:$port" --cwd "$tmp/proj" \
    --stubs-dir "$tmp/stubs" --json --load "$n" --concurrency "$c" \
    --repeat 1 --error-log "$tmp/error.log" \
    -- gcc -c src/hello.c -o out/hello.o -Iinclude >"$tmp/load.json" \
    2>"$tmp/load.err"
rc=$?
if [ $rc != 0 ] || ! [ -s "$tmp/load.json" ]; then
    echo "exec: the load tool failed" >&2
    cat "$tmp/load.err" >&2
    tail -20 "$tmp/error.log" >&2
    exit 1
fi

"$py" - "$tmp/load.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if isinstance(d, dict):
    print('exec: failed: %s' % d.get('failure'))
    sys.exit(1)
r = d[-1]
print('exec: %.1f requests/s, latency p50 %.3f ms, p90 %.3f ms, '
      'p99 %.3f ms (client, %d in flight)'
      % (r['rps'], r['p50_ms'], r['p90_ms'], r['p99_ms'], r['concurrency']))
print('exec: ok %d of %d, errors %s, cache_hit %s'
      % (r['ok'], r['requests'], json.dumps(r['errors']),
         json.dumps(r['cache_hit'])))
own = r.get('own_p50_ms')
if own is None:
    print('exec: no exec summary lines in the error log')
    sys.exit(1)
print('exec: proxy own share (%d summaries): p50 %.3f ms, p99 %.3f ms; '
      'with the response stage: p50 %.3f ms, p99 %.3f ms'
      % (r['log_lines'], r['own_p50_ms'], r['own_p99_ms'],
         r['own_resp_p50_ms'], r['own_resp_p99_ms']))
met = r['own_p50_ms'] < 1.0 and r['ok'] == r['requests']
print('exec: goal: proxy adds < 1 ms at p50 on a cache hit: %s '
      '(own p50 %.3f ms; log resolution 0.1 ms)'
      % ('met' if met else 'NOT met', r['own_p50_ms']))
print('RESULT exec rps=%.1f p50_ms=%.3f p99_ms=%.3f own_p50_ms=%.3f '
      'own_p99_ms=%.3f own_resp_p50_ms=%.3f own_resp_p99_ms=%.3f '
      'errors=%d goal=%s'
      % (r['rps'], r['p50_ms'], r['p99_ms'], r['own_p50_ms'],
         r['own_p99_ms'], r['own_resp_p50_ms'], r['own_resp_p99_ms'],
         r['requests'] - r['ok'], 'met' if met else 'not-met'))
EOF
