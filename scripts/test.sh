#!/usr/bin/env bash
# The README's test command (`npm test`): installs what is missing (npm packages, Bun,
# nats-server), builds the binary, and runs the whole suite: unit tests beside the sources,
# end-to-end tests in tests/ against real nats-server, libSQL files, sqld and the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_deps.sh
"$BUN" run build
PVFLOW_BINARY=dist/pvflow exec "$BUN" test --timeout 120000 "$@"
