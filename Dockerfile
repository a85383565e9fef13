# pvflow as a container: one static-ish executable (glibc) on debian:bookworm-slim.
#
#   docker build -t pvflow .
#   docker run --rm -p 8080:8080 -v pvflow-data:/data -e NATS_URL=nats://nats:4222 \
#     -e PVFLOW_ADMIN_TOKEN="$(openssl rand -hex 24)" pvflow
#
# The status server listens on 0.0.0.0 so that -p can reach it, and pvflow refuses to serve a
# non-loopback address without a token: give PVFLOW_ADMIN_TOKEN (every POST then needs
# `Authorization: Bearer <token>`), or, only where the network is otherwise protected, set
# PVFLOW_ALLOW_UNAUTHENTICATED=true explicitly. Without either the container exits with code 2.
#
# Every setting is an environment variable (`pvflow --help` lists them; `compose.yaml` runs it
# with a durable nats-server). Checkpoints
# go to /data/pvflow.db unless PVFLOW_DB_URL says otherwise. `docker stop` sends SIGTERM: pvflow
# takes a final checkpoint first, so allow it time (--stop-timeout) under a large backlog.
#
# The build pins linux/amd64: scripts/build.ts embeds @libsql/linux-x64-gnu and Bun compiles for
# the host it runs on.

# --- build: Node + npm fetch the packages (Bun itself comes from npm), Bun compiles -------------
FROM --platform=linux/amd64 node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no install script runs; bun's own postinstall only links the
# @oven/bun-linux-x64 binary that npm unpacked as an optional dependency, so run just that one.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node node_modules/bun/install.js \
 && node_modules/.bin/bun --version
COPY . .
RUN node_modules/.bin/bun run build && test -x dist/pvflow

# --- run: the binary, CA certificates for tls:// and https:// / libsql:// URLs, a non-root user --
FROM --platform=linux/amd64 debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 pvflow \
 && useradd --system --uid 10001 --gid pvflow --home-dir /data --no-create-home --shell /usr/sbin/nologin pvflow \
 && mkdir -p /data \
 && chown pvflow:pvflow /data \
 && chmod 1777 /tmp
COPY --from=build /src/dist/pvflow /usr/local/bin/pvflow
# The compiled binary unpacks the libSQL native addon into $TMPDIR at start: it must be writable
# by the user (with `docker run --read-only`, add `--tmpfs /tmp`).
ENV TMPDIR=/tmp \
    PVFLOW_HTTP_HOST=0.0.0.0 \
    PVFLOW_DB_URL=file:/data/pvflow.db
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# `pvflow healthcheck` GETs /readyz on PVFLOW_HTTP_HOST:PVFLOW_HTTP_PORT (0.0.0.0 is probed on
# 127.0.0.1; PVFLOW_ADMIN_TOKEN is sent when set) and exits 0 only on a 200: healthy means RUNNING,
# connected to NATS and no split stalled. The start period covers a restore of ~1M keys (2 s) and
# waiting for NATS at startup; the container is "unhealthy" after 3 failed probes (30 s).
# Orchestrators with their own probes can use GET /healthz (liveness) and GET /readyz directly.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/pvflow", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pvflow"]
