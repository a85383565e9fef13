#!/usr/bin/env bash
# The README's test command (`npm test`): installs what is missing (npm packages, Bun, Deno,
# nats-server), builds the binary, and runs the whole suite under Bun: unit tests beside the
# sources, end-to-end tests in tests/ against real nats-server, libSQL files, sqld and the binary.
# Then, for the whole suite only (no file arguments), every unit test again under Deno
# (`deno task test`, see deno.json). Exits non-zero if either runner fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_deps.sh
"$BUN" run build
rc=0
PVFLOW_BINARY=dist/pvflow "$BUN" test --timeout 120000 "$@" || rc=$?
if [[ $# -eq 0 ]]; then
  echo "== unit tests under Deno: deno task test" >&2
  NO_COLOR=1 "$DENO" task test || rc=$?
fi
exit "$rc"
