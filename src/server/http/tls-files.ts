// The server's TLS files and those it presents to etcd: read with the file
// named in every error, checked before use (Node takes a CA file without a
// certificate and then trusts no client; OpenSSL's "key values mismatch"
// names no file), and read again on SIGHUP so a renewed certificate needs no
// restart.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** A TLS file is missing, unreadable, or does not fit the others: the message names it. */
export class TlsFilesError extends Error {
  override name = 'TlsFilesError';
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly clientCa?: string | undefined;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** Reads and checks the files; throws an Error naming the file and what it must hold. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const material: TlsMaterial = {
    cert: readCertificates(files.cert, 'TLS certificate'),
    key: readFile(files.key, 'TLS key'),
    ...(files.clientCa ? { ca: readCertificates(files.clientCa, 'client CA') } : {}),
  };
  try {
    createSecureContext(material);
  } catch (err) {
    throw new TlsFilesError(`TLS certificate ${files.cert} and key ${files.key}: ${(err as Error).message} (give the server's certificate and its own private key, both PEM)`);
  }
  return material;
}

/** The files of a TLS client (mnat-server towards etcd). */
export interface ClientTlsFiles {
  readonly caFile: string;
  readonly certFile?: string;
  /** Default: the key is in certFile. */
  readonly keyFile?: string;
}

export interface ClientTlsMaterial {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** Reads and checks a client's files; errors name the flag (`--PREFIX-cacert`, `-cert`, `-key`) and the file. */
export function readClientTlsFiles(files: ClientTlsFiles, flagPrefix: string): ClientTlsMaterial {
  const keyFile = files.keyFile ?? files.certFile;
  const material: ClientTlsMaterial = {
    ca: readCertificates(files.caFile, `--${flagPrefix}-cacert`),
    ...(files.certFile ? { cert: readCertificates(files.certFile, `--${flagPrefix}-cert`) } : {}),
    ...(keyFile ? { key: readFile(keyFile, `--${flagPrefix}-key`) } : {}),
  };
  try {
    createSecureContext(material);
  } catch (err) {
    throw new TlsFilesError(`--${flagPrefix}-cert ${files.certFile} and --${flagPrefix}-key ${keyFile}: ${(err as Error).message} (give the client certificate and its own private key, both PEM)`);
  }
  return material;
}

/** An expired server certificate locks every client out: the log, /status and /metrics warn this many days ahead. */
export const EXPIRY_WARNING_DAYS = 14;

/** Days until validTo (an ISO time) from nowMs; negative once expired. */
export function daysUntil(validTo: string, nowMs: number): number {
  return (Date.parse(validTo) - nowMs) / 86_400_000;
}

/** A certificate's subject and expiry (the first in the PEM), for the log, /status and /metrics. */
export function describeCertificate(pem: Buffer): { subject: string; validTo: string } {
  const cert = new X509Certificate(pem);
  return { subject: cert.subject.replace(/\n/g, ', '), validTo: new Date(cert.validTo).toISOString() };
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsFilesError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

function readCertificates(path: string, what: string): Buffer {
  const pem = readFile(path, what);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new TlsFilesError(`${what} ${path} holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)`);
  return pem;
}
