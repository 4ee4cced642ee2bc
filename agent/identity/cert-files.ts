import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseSpiffeId } from '../base/spiffe-id.js';

/**
 * Istio's file-mounted layout (/etc/certs) per identity under `--cert-dir`:
 * `DIR/<ns>/<sa>/{cert-chain.pem,key.pem,root-cert.pem}`. Each file is replaced atomically
 * (write a temporary file beside it, fsync, rename), so a reader never sees a torn file.
 */

/** Writes `path` atomically with `mode` (the temporary file is created with it, never wider). */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export interface CertFiles {
  readonly chainPem: readonly string[];
  readonly keyPem: string;
  readonly rootsPem: readonly string[];
}

/** The identity's folder, or undefined for an id that is not a SPIFFE id (never written). */
export function identityDir(certDir: string, id: string): string | undefined {
  const parsed = parseSpiffeId(id);
  if (typeof parsed === 'string') return undefined;
  return join(certDir, parsed.namespace, parsed.serviceAccount);
}

export function writeCertFiles(certDir: string, id: string, files: CertFiles): void {
  const dir = identityDir(certDir, id);
  if (!dir) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileAtomic(join(dir, 'key.pem'), files.keyPem, 0o600);
  writeFileAtomic(join(dir, 'cert-chain.pem'), files.chainPem.join(''), 0o644);
  writeFileAtomic(join(dir, 'root-cert.pem'), files.rootsPem.join(''), 0o644);
}

export function removeCertFiles(certDir: string, id: string): void {
  const dir = identityDir(certDir, id);
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** The identity's files as written by writeCertFiles, or undefined when any is missing. */
export async function readCertFiles(certDir: string, id: string): Promise<CertFiles | undefined> {
  const dir = identityDir(certDir, id);
  if (!dir) return undefined;
  try {
    const [chain, keyPem, roots] = await Promise.all(['cert-chain.pem', 'key.pem', 'root-cert.pem'].map((f) => readFile(join(dir, f), 'utf8')));
    const split = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    return { chainPem: split(chain!), keyPem: keyPem!, rootsPem: split(roots!) };
  } catch {
    return undefined;
  }
}
