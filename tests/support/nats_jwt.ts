/**
 * @module
 * Decentralized (operator/JWT) NATS auth for tests, without `nsc`: nkeys from `@nats-io/nkeys`,
 * JWTs signed here in the NATS JWT v2 format (header `{"typ":"JWT","alg":"ed25519-nkey"}`,
 * base64url parts, an ed25519 nkey signature over `header.payload`), the server config for a
 * memory resolver, and creds files in the standard format.
 */
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { createHash } from "node:crypto";

/** Unlimited account limits, JetStream included (JetStream is enabled when storage is not 0). */
export const UNLIMITED_ACCOUNT = {
  subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1,
  mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1,
};

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
const HEADER = b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));

/** Base32 (RFC 4648, no padding) of SHA-512/256, as the Go jwt library's `jti`. */
function jti(claims: object): string {
  const digest = createHash("sha512-256").update(JSON.stringify(claims)).digest();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0, out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** Signs `nats` claims about `subject` with `issuer` (a JWT v2). */
export function signJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims = { jti: "", iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats };
  claims.jti = jti(claims);
  const body = `${HEADER}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(issuer.sign(new TextEncoder().encode(body)))}`;
}

/** A user creds file: the user JWT and its nkey seed, in the format `nsc` writes. */
export function credsFile(userJwt: string, user: KeyPair): string {
  const seed = new TextDecoder().decode(user.getSeed());
  return [
    "-----BEGIN NATS USER JWT-----", userJwt, "------END NATS USER JWT------", "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "NKEYs are sensitive and should be treated as secrets.", "",
    "-----BEGIN USER NKEY SEED-----", seed, "------END USER NKEY SEED------", "",
    "*************************************************************", "",
  ].join("\n");
}

/** An operator with a system account and one JetStream-enabled application account. */
export interface JwtSetup {
  /** nats-server config text: operator, system account, memory resolver with both accounts preloaded. */
  serverConfig: string;
  /** A creds file for a new user of the application account (or of `account`, when given). */
  userCreds(name?: string, account?: KeyPair): string;
  operator: KeyPair;
  account: KeyPair;
}

/** Creates operator, system account and application account keys and JWTs. */
export function jwtSetup(): JwtSetup {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const operatorJwt = signJwt(operator, operator.getPublicKey(), "pvflow-test-operator", {
    type: "operator", version: 2, system_account: system.getPublicKey(),
  });
  const accountJwt = (a: KeyPair, name: string, jetstream: boolean) =>
    signJwt(operator, a.getPublicKey(), name, {
      type: "account", version: 2,
      limits: jetstream ? UNLIMITED_ACCOUNT : { ...UNLIMITED_ACCOUNT, mem_storage: 0, disk_storage: 0, streams: 0, consumer: 0 },
      default_permissions: { pub: {}, sub: {} },
    });
  const serverConfig = [
    `operator: ${operatorJwt}`,
    `system_account: ${system.getPublicKey()}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${system.getPublicKey()}: ${accountJwt(system, "SYS", false)}`,
    `  ${account.getPublicKey()}: ${accountJwt(account, "APP", true)}`,
    "}",
  ].join("\n");
  return {
    serverConfig,
    operator,
    account,
    userCreds(name = "pvflow", issuer = account) {
      const user = createUser();
      const jwt = signJwt(issuer, user.getPublicKey(), name, {
        type: "user", version: 2, pub: {}, sub: {}, subs: -1, data: -1, payload: -1,
      });
      return credsFile(jwt, user);
    },
  };
}
