// The fleet's TLS: a CA of its own and a server certificate for nats-server,
// made with the openssl command (OpenSSL or LibreSSL: both take these forms),
// so TLS on every NATS link needs no certificate bought or copied by hand. The
// CA's certificate travels in each join token; hosts trust only it.
import { isIP } from "node:net";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError } from "../config/file.ts";

export interface CertFiles {
  ca: string;
  caKey: string;
  cert: string;
  key: string;
}

/** Ten years: the fleet's own CA, not a public one; replacing it means re-enrolling every host. */
const DAYS = "3650";

/** Makes the CA and a server certificate for `names` (DNS names or IP addresses; localhost and 127.0.0.1 always). */
export async function makeCertificates(files: CertFiles, names: string[]): Promise<void> {
  const openssl = Bun.which("openssl");
  if (!openssl) throw new ConfigError("making the fleet's TLS certificates needs the openssl command; install it (apt install openssl, or brew install openssl) and run this again");
  const sans = [...new Set(["localhost", "127.0.0.1", ...names.filter((n) => n !== "")])].map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`));
  const work = mkdtempSync(join(dirname(files.ca), ".certs-"));
  try {
    const ext = join(work, "ext.cnf");
    writeFileSync(ext, `subjectAltName=${sans.join(",")}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n`);
    const caExt = join(work, "ca.cnf");
    writeFileSync(caExt, "[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n");
    const csr = join(work, "server.csr");
    const run = async (args: string[]) => {
      const p = Bun.spawn([openssl, ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, RANDFILE: join(work, ".rnd") } });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      if (code !== 0) throw new ConfigError(`openssl ${args[0]} failed: ${err.trim().split("\n").slice(-3).join("; ")}`);
    };
    await run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", files.caKey]);
    chmodSync(files.caKey, 0o600);
    await run(["req", "-new", "-x509", "-key", files.caKey, "-out", files.ca, "-days", DAYS, "-subj", "/CN=lmcp fleet CA", "-config", caExt, "-extensions", "ca"]);
    await run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", files.key]);
    chmodSync(files.key, 0o600);
    await run(["req", "-new", "-key", files.key, "-out", csr, "-subj", "/CN=lmcp fleet NATS", "-config", caExt]);
    await run(["x509", "-req", "-in", csr, "-CA", files.ca, "-CAkey", files.caKey, "-CAcreateserial", "-CAserial", join(work, "ca.srl"), "-out", files.cert, "-days", DAYS, "-extfile", ext]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
