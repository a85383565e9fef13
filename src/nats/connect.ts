/**
 * @module
 * Opens a NATS connection from the config: servers, credentials (creds file, token or
 * user/password) and TLS (a `tls://` URL, or any server that requires it; `NATS_CA` adds trusted
 * CAs). Reconnects forever: an outage is reported by the job's status, never answered by giving
 * up the connection. Errors name the servers, never a credential or the creds file's path.
 */
import { readFileSync } from "node:fs";
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import { redactUrl, type NatsAuth } from "../config.ts";

/** What a connection needs from the config (plain data: workers receive it in their init message). */
export interface NatsSettings {
  natsServers: string[];
  natsAuth: NatsAuth;
}

/** Builds the connection options; reads the creds file (here, in whichever thread connects). */
export function connectionOptions(s: NatsSettings, name: string): NodeConnectionOptions {
  const opts: NodeConnectionOptions = {
    servers: s.natsServers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
  };
  const { credsFile, token, user, password, caFile } = s.natsAuth;
  if (credsFile) opts.authenticator = credsAuthenticator(readCreds(credsFile));
  else if (token) opts.token = token;
  else if (user) Object.assign(opts, { user, pass: password ?? "" });
  if (caFile) opts.tls = { caFile };
  else if (s.natsServers.some((u) => u.startsWith("tls://"))) opts.tls = {};
  return opts;
}

/** The creds file's bytes; a failure names NATS_CREDS and the errno code, not the path. */
function readCreds(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read the NATS_CREDS file (${(err as NodeJS.ErrnoException).code ?? "unreadable"})`);
  }
}

/** Connects once; throws a one-line error naming the servers and the cause (never the credentials). */
export async function connectNats(s: NatsSettings, name: string): Promise<NatsConnection> {
  try {
    return await connect(connectionOptions(s, name));
  } catch (err) {
    const servers = s.natsServers.map(redactUrl).join(",");
    throw new Error(`cannot connect to NATS at ${servers}: ${describe(err as Error, s.natsAuth)}`);
  }
}

/** The error's message on one line; an authorization failure names the credential that was used. */
function describe(err: Error, auth: NatsAuth): string {
  const message = err.message.replace(/\s+/g, " ");
  if (!/authoriz|authenticat/i.test(message)) return message;
  const used = auth.credsFile ? "the NATS_CREDS file" : auth.token ? "NATS_TOKEN" : auth.user ? "NATS_USER/NATS_PASSWORD" : undefined;
  return used
    ? `${message} (the server rejected ${used})`
    : `${message} (no credentials configured: set NATS_CREDS, NATS_TOKEN or NATS_USER/NATS_PASSWORD)`;
}
