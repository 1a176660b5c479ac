// A throwaway PKI for the lab: a CA, a server certificate for the addresses the
// agents dial, and one client certificate per agent (mutual TLS), made with
// openssl (EC P-256, so it takes milliseconds).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LabCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** name -> { cert, key } */
  readonly clients: Record<string, { cert: string; key: string }>;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

function issue(dir: string, name: string, subject: string, ext: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  openssl([
    'x509', '-req', '-in', csr, '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', extFile, '-out', cert,
  ]);
  return { cert, key };
}

export function makeLabCerts(dir: string, serverNames: { ips: string[]; dns?: string[] }, clients: string[]): LabCerts {
  const caKey = join(dir, 'ca.key');
  const ca = join(dir, 'ca.pem');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
  openssl(['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=MNAT lab CA', '-days', '2', '-sha256', '-out', ca]);
  const san = [...serverNames.ips.map((ip) => `IP:${ip}`), ...(serverNames.dns ?? []).map((d) => `DNS:${d}`)].join(',');
  const server = issue(
    dir,
    'server',
    '/CN=mnat-server',
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
  );
  const out: Record<string, { cert: string; key: string }> = {};
  for (const c of clients) {
    out[c] = issue(dir, `client-${c}`, `/CN=${c}`, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  }
  return { ca, serverCert: server.cert, serverKey: server.key, clients: out };
}
