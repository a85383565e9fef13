#!/usr/bin/env bash
# Installs what pvflow's scripts need on a Debian machine that has only Node 20, npm and apt:
#   - node_modules (npm ci), a working Bun at node_modules/.bin/bun and Deno at node_modules/.bin/deno
#   - nats-server (apt)
#   - openssl (apt), for the TLS tests
#   - optionally chromium (apt), for the dashboard's browser test: only when PVFLOW_WITH_BROWSER=1
#     or CI=true, and a failed install only warns (tests/dashboard_test.ts then skips, and says so)
# Idempotent and silent when everything is already there. Source it (`. scripts/ensure_deps.sh`)
# to get BUN and PATH in your shell, or execute it. Exports:
#   BUN   absolute path of the repo's Bun
#   DENO  absolute path of the repo's Deno (the pinned devDependency)
#   PATH  with /usr/sbin appended when nats-server lives there (Debian's package puts it there,
#         and a non-root user's PATH usually lacks it)

_pvflow_ensure_deps() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  local bun="$root/node_modules/.bin/bun"

  # (a) node_modules, then Bun. Bun's postinstall only links the @oven/bun-linux-x64 binary that
  # npm already unpacked as an optional dependency; --ignore-scripts skipped it, so run it here.
  # A node_modules that is a symlink (a git worktree sharing another checkout's) is left alone:
  # npm ci would empty the directory it points to, under every checkout that shares it.
  if [[ -L "$root/node_modules" ]]; then
    if [[ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]; then
      echo "ensure_deps: node_modules is a symlink to $(readlink "$root/node_modules"): not running npm ci there" >&2
    fi
  elif [[ ! -d "$root/node_modules" || "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]; then
    echo "ensure_deps: npm ci" >&2
    (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 ||
      { echo "ensure_deps: npm ci failed in $root" >&2; return 1; }
  fi
  if ! "$bun" --version >/dev/null 2>&1; then
    echo "ensure_deps: linking bun (node node_modules/bun/install.js)" >&2
    (cd "$root" && node node_modules/bun/install.js) >&2 || true
    "$bun" --version >/dev/null 2>&1 ||
      { echo "ensure_deps: $bun does not run after node_modules/bun/install.js" >&2; return 1; }
  fi
  export BUN="$bun"

  # (a2) Deno (devDependency, for `deno task start` / `deno task test`). Its postinstall, skipped
  # by --ignore-scripts, links node_modules/.bin/deno to the native binary; without it .bin/deno
  # is the Node wrapper bin.cjs, which runs Deno as a child and does not pass signals on (and
  # `deno task` finds `deno` in node_modules/.bin first), so a SIGTERM would not reach pvflow.
  local deno="$root/node_modules/.bin/deno"
  if [[ "$(readlink "$deno" 2>/dev/null)" == *bin.cjs ]] || ! "$deno" --version >/dev/null 2>&1; then
    echo "ensure_deps: linking deno (node node_modules/deno/install.cjs)" >&2
    (cd "$root" && node node_modules/deno/install.cjs) >&2 || true
    "$deno" --version >/dev/null 2>&1 ||
      { echo "ensure_deps: $deno does not run after node_modules/deno/install.cjs" >&2; return 1; }
  fi
  export DENO="$deno"

  local sudo=()
  if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then sudo=(sudo); fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq)

  # (b) nats-server
  if ! command -v nats-server >/dev/null 2>&1 && [[ -x /usr/sbin/nats-server ]]; then
    export PATH="$PATH:/usr/sbin"
  fi
  if ! command -v nats-server >/dev/null 2>&1; then
    echo "ensure_deps: apt-get install nats-server" >&2
    if ! "${apt[@]}" install nats-server >/dev/null 2>&1; then
      "${apt[@]}" update >/dev/null 2>&1
      "${apt[@]}" install nats-server >&2
    fi
    if ! command -v nats-server >/dev/null 2>&1 && [[ -x /usr/sbin/nats-server ]]; then
      export PATH="$PATH:/usr/sbin"
    fi
    command -v nats-server >/dev/null 2>&1 ||
      { echo "ensure_deps: nats-server is not on PATH and 'apt-get install nats-server' did not install it" >&2; return 1; }
  fi

  # (b2) openssl, for the TLS certificates of tests/nats_auth_test.ts
  if ! command -v openssl >/dev/null 2>&1; then
    echo "ensure_deps: apt-get install openssl" >&2
    "${apt[@]}" install openssl >/dev/null 2>&1 || { "${apt[@]}" update >/dev/null 2>&1; "${apt[@]}" install openssl >&2; }
    command -v openssl >/dev/null 2>&1 || { echo "ensure_deps: 'apt-get install openssl' did not install openssl" >&2; return 1; }
  fi

  # (c) chromium, optional: never fails the setup.
  if [[ "${PVFLOW_WITH_BROWSER:-}" == 1 || "${CI:-}" == true ]] && [[ ! -x /usr/bin/chromium ]]; then
    echo "ensure_deps: apt-get install chromium (for tests/dashboard_test.ts)" >&2
    if ! "${apt[@]}" install chromium >/dev/null 2>&1; then
      "${apt[@]}" update >/dev/null 2>&1
      "${apt[@]}" install chromium >&2 || true
    fi
    [[ -x /usr/bin/chromium ]] ||
      echo "ensure_deps: WARNING: chromium could not be installed; tests/dashboard_test.ts will be skipped" >&2
  fi
  return 0
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  _pvflow_ensure_deps || exit 1
else
  _pvflow_ensure_deps || return 1
fi
