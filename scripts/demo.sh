#!/usr/bin/env bash
# Runs pvflow on sample traffic (`npm run demo`): builds dist/pvflow, starts a local nats-server
# with JetStream, publishes sample page views (scripts/sample_traffic.ts) and runs pvflow on them,
# printing a live view every 2 s until Ctrl-C (or SIGTERM/SIGHUP to this script, or the traffic
# ending), then stops everything: the traffic, then — once the last checkpoint covers every event —
# a closing line `published N, committed N (...): exact`, then pvflow (final checkpoint), then
# nats-server. If this script is killed outright (kill -9), its watchdog (scripts/demo_reaper.sh,
# in a session of its own) stops what it started; so does the watchdog when `npm run demo`'s npm
# goes away.
#
# State lives in .demo/ (JetStream store, pvflow.db, logs) and is kept between runs, so a second
# run resumes from the last checkpoint; DEMO_FRESH=1 starts over.
#
# Environment:
#   DEMO_NATS_PORT    NATS port (default 4222; a free one when busy)
#   PVFLOW_HTTP_PORT  status server port (default 8080; a free one when busy)
#   DEMO_SECONDS      show the live view this long, then stop (default: until Ctrl-C)
#   DEMO_FRESH=1      delete .demo's stream and checkpoints first
#   DEMO_DIR          where the state lives (default .demo in the repository)
#   SAMPLE_RATE, SAMPLE_TOTAL, SAMPLE_SITES   see scripts/sample_traffic.ts
#   other PVFLOW_* variables are passed to pvflow as they are
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/ensure_deps.sh
. scripts/ensure_deps.sh

DEMO="${DEMO_DIR:-$ROOT/.demo}"
mkdir -p "$DEMO"
DEMO="$(cd "$DEMO" && pwd)"
exec 9>"$DEMO/lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
  echo "demo: another demo is running on $DEMO (lock $DEMO/lock)" >&2
  exit 1
fi

NATS_PID="" TRAFFIC_PID="" PVFLOW_PID="" WATCH_PID="" REAPER_PID=""
PIDFILE="$DEMO/pids"
: >"$PIDFILE"

# Whether process $1 (a child of this shell) is running, zombies excluded. Reads /proc only.
alive() {
  local stat
  [[ -n "$1" ]] && read -r stat 2>/dev/null </proc/"$1"/stat || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# Sends signal $4 (default TERM) to child $2 (named $1), waits up to $3 s, then SIGKILL; prints
# its exit status.
stop_child() {
  local name="$1" pid="$2" secs="$3" sig="${4:-TERM}" i rc=0
  [[ -n "$pid" ]] || return 0
  if alive "$pid"; then
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      echo "demo: $name still running after ${secs}s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  echo "demo: stopped $name (exit $rc)"
}

# Records a started child for the watchdog: name, pid and start time (so a reused pid is never hit).
record_pid() {
  local stat
  read -r stat 2>/dev/null </proc/"$2"/stat || return 0
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- "$1" "$2" $stat
  echo "$1 $2 ${22}" >>"$PIDFILE"
}

cleanup() {
  local rc=$?
  trap '' INT TERM HUP # let the shutdown finish; every step is bounded
  set +e
  [[ -n "$WATCH_PID" ]] && { kill -TERM "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; }
  # The traffic first, so that what was published is final; then the closing line, while pvflow runs.
  stop_child sample_traffic "$TRAFFIC_PID" 10
  if [[ -n "$PVFLOW_PID" && -n "${status_url:-}" ]] && alive "$PVFLOW_PID" && alive "$NATS_PID"; then
    echo "demo: waiting for the last checkpoint to cover every event published ..."
    local line
    line="$(DEMO_STATUS_URL="$status_url" "$BUN" scripts/demo_exactness.ts 9>&- 2>&1)"
    echo "demo: $line"
  fi
  stop_child pvflow "$PVFLOW_PID" 30
  stop_child nats-server "$NATS_PID" 10 INT # its clean shutdown exits 0 on INT, 1 on TERM
  [[ -n "$REAPER_PID" ]] && { kill -TERM "$REAPER_PID" 2>/dev/null; wait "$REAPER_PID" 2>/dev/null; }
  rm -f "$PIDFILE"
  [[ -e "$DEMO/pvflow.log" ]] && echo "demo: logs in $DEMO/{pvflow,traffic,nats}.log; checkpoints in $DEMO/pvflow.db"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM HUP

# Children run in their own session, so the terminal's Ctrl-C reaches only this script, which
# then stops them in order. Without job control a child is no process-group leader, so setsid
# execs in place and $! is the program's own pid (a shell function would put a subshell there).
DETACH=()
command -v setsid >/dev/null 2>&1 && DETACH=(setsid)

# The watchdog, for when this script dies without its cleanup (kill -9); it also watches npm when
# `npm run demo` started us (an IDE or process manager stops that pid).
launcher="" p="$PPID"
for _ in 1 2 3; do # npm -> sh -c -> bash
  [[ -r /proc/$p/cmdline ]] || break
  if tr '\0' ' ' </proc/"$p"/cmdline | grep -q npm; then launcher="$p"; break; fi
  p="$(awk '{ print $4 }' /proc/"$p"/stat 2>/dev/null)" || break
  [[ "$p" -gt 1 ]] 2>/dev/null || break
done
"${DETACH[@]}" bash "$ROOT/scripts/demo_reaper.sh" "$$" "$PIDFILE" $launcher >>"$DEMO/reaper.log" 2>&1 9>&- </dev/null &
REAPER_PID=$!

# Whether something accepts connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# HTTP status code of GET 127.0.0.1:$1$2, without curl.
http_code() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
    read -r -t 2 line <&3 || exit 1
    line="${line#* }"
    echo "${line%% *}"
  ) 2>/dev/null || true
}

fail() {
  echo "demo: $1" >&2
  [[ -n "${2:-}" && -f "$2" ]] && { echo "--- last lines of $2:" >&2; tail -n 20 "$2" >&2; }
  exit 1
}

# 1. Build.
"$BUN" run build

# 2. nats-server with JetStream.
if [[ "${DEMO_FRESH:-}" == 1 ]]; then
  rm -rf "$DEMO/jetstream" "$DEMO"/pvflow.db*
  echo "demo: DEMO_FRESH=1: starting with an empty stream and no checkpoints"
elif [[ -e "$DEMO/pvflow.db" ]]; then
  echo "demo: resuming the stream and checkpoints in $DEMO (DEMO_FRESH=1 starts over)"
fi
nats_port="${DEMO_NATS_PORT:-4222}"
if port_busy "$nats_port"; then
  echo "demo: port $nats_port is busy: nats-server takes a free port"
  nats_port=-1
fi
rm -f "$DEMO"/nats-server_*.ports
cat >"$DEMO/nats.conf" <<EOF
host: 127.0.0.1
port: $nats_port
ports_file_dir: "$DEMO"
jetstream { store_dir: "$DEMO/jetstream" }
EOF
"${DETACH[@]}" nats-server -c "$DEMO/nats.conf" >"$DEMO/nats.log" 2>&1 9>&- &
NATS_PID=$!
record_pid nats-server "$NATS_PID"
nats_url=""
for ((i = 0; i < 100; i++)); do
  nats_url="$(cat "$DEMO"/nats-server_*.ports 2>/dev/null | grep -o 'nats://[^"]*' | head -n 1)" || true
  [[ -n "$nats_url" ]] && break
  alive "$NATS_PID" || fail "nats-server exited at startup" "$DEMO/nats.log"
  sleep 0.1
done
[[ -n "$nats_url" ]] || fail "nats-server reported no port in 10 s" "$DEMO/nats.log"
export NATS_URL="$nats_url"
echo "demo: nats-server $NATS_URL (JetStream in $DEMO/jetstream)"

# 3. Sample traffic.
"${DETACH[@]}" "$BUN" scripts/sample_traffic.ts >"$DEMO/traffic.log" 2>&1 9>&- &
TRAFFIC_PID=$!
record_pid sample_traffic "$TRAFFIC_PID"
echo "demo: sample traffic at ${SAMPLE_RATE:-2000} events/s (log $DEMO/traffic.log)"

# 4. pvflow.
http_port="${PVFLOW_HTTP_PORT:-8080}"
if port_busy "$http_port"; then
  http_port="$("$BUN" -e 'const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); console.log(s.port); s.stop(true);')"
  echo "demo: port ${PVFLOW_HTTP_PORT:-8080} is busy: the status server takes $http_port"
fi
PVFLOW_SUBJECTS=pv.0,pv.1,pv.2,pv.3 \
  PVFLOW_DB_URL="file:$DEMO/pvflow.db" \
  PVFLOW_HTTP_HOST="${PVFLOW_HTTP_HOST:-127.0.0.1}" \
  PVFLOW_HTTP_PORT="$http_port" \
  "${DETACH[@]}" dist/pvflow >"$DEMO/pvflow.log" 2>&1 9>&- &
PVFLOW_PID=$!
record_pid pvflow "$PVFLOW_PID"
for ((i = 0; i < 600; i++)); do
  [[ "$(http_code "$http_port" /readyz)" == 200 ]] && break
  alive "$PVFLOW_PID" || fail "pvflow exited at startup" "$DEMO/pvflow.log"
  sleep 0.1
done
[[ "$(http_code "$http_port" /readyz)" == 200 ]] || fail "pvflow not ready after 60 s" "$DEMO/pvflow.log"
status_url="http://127.0.0.1:$http_port"
echo "demo: pvflow is RUNNING (log $DEMO/pvflow.log)"
echo "demo: dashboard $status_url/   (JSON: $status_url/status, /counts?top=10, /checkpoints, /metrics)"
if [[ -n "${DEMO_SECONDS:-}" ]]; then echo "demo: stopping in ${DEMO_SECONDS} s"; else echo "demo: Ctrl-C stops"; fi

# 5. The live view, until Ctrl-C, DEMO_SECONDS, or pvflow or nats-server ending on their own.
DEMO_STATUS_URL="$status_url" "$BUN" scripts/demo_watch.ts 9>&- &
WATCH_PID=$!
record_pid demo_watch "$WATCH_PID"
done_pid="" done_rc=0
wait -n -p done_pid "$WATCH_PID" "$TRAFFIC_PID" "$PVFLOW_PID" "$NATS_PID" || done_rc=$?
case "$done_pid" in
  "$WATCH_PID") WATCH_PID="" ;;
  "$TRAFFIC_PID")
    TRAFFIC_PID=""
    [[ "$done_rc" == 0 ]] || fail "sample traffic exited with $done_rc" "$DEMO/traffic.log"
    echo "demo: the sample traffic is done ($(grep -o 'published [0-9]* ([0-9]* malformed)' "$DEMO/traffic.log" | tail -n 1))"
    ;;
  "$PVFLOW_PID") PVFLOW_PID="" && fail "pvflow exited on its own (exit $done_rc)" "$DEMO/pvflow.log" ;;
  "$NATS_PID") NATS_PID="" && fail "nats-server exited on its own (exit $done_rc)" "$DEMO/nats.log" ;;
esac
