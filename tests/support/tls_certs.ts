/**
 * @module
 * A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with `openssl`, for
 * TLS tests against a real nats-server.
 */
import { join } from "node:path";

/** PEM files written by {@link makeTlsCerts}. */
export interface TlsCerts {
  /** The CA certificate clients must trust. */
  caFile: string;
  /** The server certificate (SAN IP:127.0.0.1, DNS:localhost), signed by the CA. */
  certFile: string;
  keyFile: string;
  /** nats-server config text requiring TLS with these files. */
  serverConfig: string;
}

const NOT_FOUND = "openssl not found on PATH: install it with `apt-get install -y openssl`";

async function openssl(dir: string, args: string[]): Promise<void> {
  const proc = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`openssl ${args[0]} failed (${code}): ${err}`);
}

/** Writes `ca.pem`, `server.pem` and `server-key.pem` into `dir`. */
export async function makeTlsCerts(dir: string): Promise<TlsCerts> {
  if (Bun.which("openssl") === null) throw new Error(NOT_FOUND);
  const days = ["-days", "2"];
  await openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
    ...days, "-subj", "/CN=pvflow test CA"]);
  await openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem", "-out", "server.csr",
    "-subj", "/CN=localhost"]);
  await Bun.write(join(dir, "server.ext"), [
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "basicConstraints=CA:FALSE",
    "keyUsage=digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "",
  ].join("\n"));
  await openssl(dir, ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
    "-out", "server.pem", ...days, "-extfile", "server.ext"]);
  const certs = { caFile: join(dir, "ca.pem"), certFile: join(dir, "server.pem"), keyFile: join(dir, "server-key.pem") };
  return {
    ...certs,
    serverConfig: `tls { cert_file: ${JSON.stringify(certs.certFile)}, key_file: ${JSON.stringify(certs.keyFile)}, ` +
      `ca_file: ${JSON.stringify(certs.caFile)} }`,
  };
}
