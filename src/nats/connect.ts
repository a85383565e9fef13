/**
 * @module
 * Opens a NATS connection from the config: servers, credentials (creds file, token or
 * user/password) and TLS (a `tls://` URL). Reconnects forever: an outage is reported by the
 * job's status, never answered by giving up the connection.
 */
import { readFileSync } from "node:fs";
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { NatsAuth } from "../config.ts";

/** What a connection needs from the config. */
export interface NatsSettings {
  natsServers: string[];
  natsAuth: NatsAuth;
}

/** Builds the connection options (kept separate so they can be sent to workers as plain data). */
export function connectionOptions(s: NatsSettings, name: string): NodeConnectionOptions {
  const opts: NodeConnectionOptions = {
    servers: s.natsServers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
  };
  const { credsFile, token, user, password } = s.natsAuth;
  if (credsFile) opts.authenticator = credsAuthenticator(readFileSync(credsFile));
  else if (token) opts.token = token;
  else if (user) Object.assign(opts, { user, pass: password ?? "" });
  if (s.natsServers.some((u) => u.startsWith("tls://"))) opts.tls = {};
  return opts;
}

/** Connects once; throws a one-line error naming the servers (never the credentials). */
export async function connectNats(s: NatsSettings, name: string): Promise<NatsConnection> {
  try {
    return await connect(connectionOptions(s, name));
  } catch (err) {
    const servers = s.natsServers.map((u) => u.replace(/\/\/[^@/]*@/, "//")).join(",");
    throw new Error(`cannot connect to NATS at ${servers}: ${(err as Error).message}`);
  }
}
