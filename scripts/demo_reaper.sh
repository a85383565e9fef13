#!/usr/bin/env bash
# The demo's watchdog (started by scripts/demo.sh in a session of its own, so that nothing that
# kills the demo kills it too). Usage: demo_reaper.sh <demo pid> <pidfile> [<launcher pid>]
#
# - When the demo process is gone without having cleaned up (kill -9), it stops every process
#   listed in <pidfile> ("name pid starttime" lines, written by the demo as it starts them):
#   SIGTERM (nats-server: SIGINT), up to 30 s, then SIGKILL.
# - When the launcher (`npm run demo`'s npm) is gone, it sends SIGTERM to the demo, which then
#   stops everything in order itself.
# A pid counts as the same process only while its start time (/proc/<pid>/stat) is unchanged, so
# a reused pid is never signalled.
set -u
demo="$1" pidfile="$2" launcher="${3:-}"

# Start time (clock ticks since boot) of process $1; fails when there is none or it is a zombie.
starttime() {
  local stat
  read -r stat 2>/dev/null </proc/"$1"/stat || return 1
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- $stat
  [[ "$1" != Z ]] || return 1
  echo "${20}"
}

same() { [[ "$(starttime "$1" 2>/dev/null)" == "$2" ]]; }

demo_start="$(starttime "$demo")" || exit 0
launcher_start=""
[[ -n "$launcher" ]] && launcher_start="$(starttime "$launcher")"

reap() {
  local name pid start sig left=()
  [[ -f "$pidfile" ]] || return 0
  while read -r name pid start; do
    [[ -n "${start:-}" ]] && same "$pid" "$start" || continue
    sig=TERM
    [[ "$name" == nats-server ]] && sig=INT
    echo "demo_reaper: the demo is gone: stopping $name (pid $pid, SIG$sig)"
    kill -"$sig" "$pid" 2>/dev/null && left+=("$name $pid $start")
  done <"$pidfile"
  for ((i = 0; i < 300 && ${#left[@]} > 0; i++)); do
    local still=()
    for entry in "${left[@]}"; do
      read -r name pid start <<<"$entry"
      same "$pid" "$start" && still+=("$entry")
    done
    left=("${still[@]+"${still[@]}"}")
    [[ ${#left[@]} -gt 0 ]] && sleep 0.1
  done
  for entry in "${left[@]+"${left[@]}"}"; do
    read -r name pid start <<<"$entry"
    echo "demo_reaper: $name (pid $pid) still running after 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  done
  rm -f "$pidfile"
}

told_demo=""
while :; do
  if ! same "$demo" "$demo_start"; then
    reap
    exit 0
  fi
  if [[ -n "$launcher_start" && -z "$told_demo" ]] && ! same "$launcher" "$launcher_start"; then
    echo "demo_reaper: the launcher (pid $launcher) is gone: SIGTERM to the demo (pid $demo)"
    kill -TERM "$demo" 2>/dev/null
    told_demo=1
  fi
  sleep 0.5
done
