import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../telemetry/log.js';
import { pemDecodeAll, pemEncode } from '../base/pem.js';
import { certificateFields, keyIdOf, subjectKeyId } from '../base/x509.js';
import { writeFileAtomic } from '../identity/index.js';
import {
  basicConstraints, KEY_USAGE, keyUsage, organizationName, randomSerial, signCertificate, signingKey,
  subjectKeyIdentifier, type SigningKey,
} from './certificate.js';
import { CaKeyMaterialError } from './errors.js';

/**
 * The CA's signing key and certificates, from DIR: either Istio's plug-in set (an operator's
 * intermediate under their own root) or a self-signed root meshnode created there on first start
 * and reuses afterwards.
 */

export const PLUGIN_FILES = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'] as const;
export const SELF_SIGNED_KEY = 'root-key.pem';
export const ROOT_CERT = 'root-cert.pem';

const ROOT_LIFETIME_MS = 3650 * 86_400_000;

export interface CaKeyMaterial {
  readonly mode: 'plug-in' | 'self-signed';
  readonly signer: SigningKey;
  readonly signerCert: X509Certificate;
  /** The signing certificate's subject Name DER: every leaf's issuer. */
  readonly signerSubject: Buffer;
  readonly signerKeyId: Buffer | undefined;
  /** Certificates between a leaf and the roots, PEM, signing certificate first. */
  readonly intermediatesPem: readonly string[];
  readonly rootsPem: readonly string[];
}

function readCerts(dir: string, file: string): X509Certificate[] {
  const path = join(dir, file);
  let certs: X509Certificate[];
  try {
    certs = pemDecodeAll(readFileSync(path, 'utf8'), 'CERTIFICATE').map((d) => new X509Certificate(d));
  } catch (err) {
    throw new CaKeyMaterialError(`${path}: ${(err as Error).message}`);
  }
  if (certs.length === 0) throw new CaKeyMaterialError(`${path} holds no PEM certificate`);
  return certs;
}

function readKey(path: string): KeyObject {
  try {
    return createPrivateKey(readFileSync(path));
  } catch (err) {
    throw new CaKeyMaterialError(`${path}: not a usable private key (${(err as Error).message})`);
  }
}

function spkiOf(key: KeyObject | X509Certificate): Buffer {
  const pub = key instanceof X509Certificate ? key.publicKey : createPublicKey(key);
  return pub.export({ type: 'spki', format: 'der' });
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

function material(mode: CaKeyMaterial['mode'], key: KeyObject, cert: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[]): CaKeyMaterial {
  if (!cert.ca) throw new CaKeyMaterialError('the signing certificate is not a CA certificate (basicConstraints CA:false)');
  if (!spkiOf(key).equals(spkiOf(cert))) throw new CaKeyMaterialError('the CA key does not match the signing certificate');
  if (new Date(cert.validTo).getTime() <= Date.now()) throw new CaKeyMaterialError(`the signing certificate expired at ${cert.validTo}`);
  const fields = certificateFields(cert.raw);
  return {
    mode, signer: signingKey(key), signerCert: cert, signerSubject: fields.subject, signerKeyId: subjectKeyId(fields),
    intermediatesPem: intermediates.map((c) => pemEncode(c.raw, 'CERTIFICATE')),
    rootsPem: roots.map((c) => pemEncode(c.raw, 'CERTIFICATE')),
  };
}

/** Istio's plug-in set: checks the key matches ca-cert.pem and that cert-chain.pem leads to a root. */
function loadPlugin(dir: string): CaKeyMaterial {
  const key = readKey(join(dir, 'ca-key.pem'));
  const [cert] = readCerts(dir, 'ca-cert.pem') as [X509Certificate];
  const roots = readCerts(dir, 'root-cert.pem');
  const isRoot = (c: X509Certificate) => roots.some((r) => r.fingerprint256 === c.fingerprint256);
  const chain = readCerts(dir, 'cert-chain.pem').filter((c) => !isRoot(c));
  if (!isRoot(cert) && chain[0]?.fingerprint256 !== cert.fingerprint256) chain.unshift(cert);
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!issuedBy(chain[i]!, chain[i + 1]!)) {
      throw new CaKeyMaterialError(`cert-chain.pem: certificate ${i + 1} (${chain[i]!.subject.replace(/\n/g, ', ')}) is not issued by the next one`);
    }
  }
  const top = chain[chain.length - 1];
  if (top && !roots.some((r) => issuedBy(top, r))) {
    throw new CaKeyMaterialError('cert-chain.pem does not reach a certificate in root-cert.pem');
  }
  return material('plug-in', key, cert, chain, roots);
}

function loadSelfSigned(dir: string): CaKeyMaterial {
  const key = readKey(join(dir, SELF_SIGNED_KEY));
  const [root] = readCerts(dir, ROOT_CERT) as [X509Certificate];
  if (!issuedBy(root, root)) throw new CaKeyMaterialError(`${join(dir, ROOT_CERT)} is not a self-signed root`);
  return material('self-signed', key, root, [], [root]);
}

/** A new ECDSA P-256 root: 10 years, O = trust domain, no CN, keyCertSign + cRLSign. */
function createSelfSigned(dir: string, trustDomain: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = spkiOf(privateKey);
  const name = organizationName(trustDomain);
  const now = new Date();
  const der = signCertificate({
    serial: randomSerial(), issuer: name, subject: name, notBefore: now,
    notAfter: new Date(now.getTime() + ROOT_LIFETIME_MS), spki,
    extensions: [basicConstraints(true), keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), subjectKeyIdentifier(keyIdOf(spki))],
  }, signingKey(privateKey));
  writeFileAtomic(join(dir, SELF_SIGNED_KEY), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  writeFileAtomic(join(dir, ROOT_CERT), pemEncode(der, 'CERTIFICATE'), 0o644);
}

/** Loads DIR's key material, creating a self-signed root there when DIR has none. */
export function loadKeyMaterial(dir: string, trustDomain: string, log: Logger): CaKeyMaterial {
  try {
    return loadOrCreate(dir, trustDomain, log);
  } catch (err) {
    if (err instanceof CaKeyMaterialError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new CaKeyMaterialError(`${e.path ?? dir}: ${e.code ?? e.message}`);
  }
}

function loadOrCreate(dir: string, trustDomain: string, log: Logger): CaKeyMaterial {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const present = (f: string) => existsSync(join(dir, f));
  if (['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem'].some(present)) {
    const missing = PLUGIN_FILES.filter((f) => !present(f));
    if (missing.length > 0) {
      throw new CaKeyMaterialError(`${dir} holds a partial Istio plug-in CA set: missing ${missing.join(', ')}`);
    }
    const loaded = loadPlugin(dir);
    log.info('using plug-in CA certificates', { dir, signer: loaded.signerCert.subject, intermediates: loaded.intermediatesPem.length });
    return loaded;
  }
  if (present(SELF_SIGNED_KEY) !== present(ROOT_CERT)) {
    const missing = present(ROOT_CERT) ? `${SELF_SIGNED_KEY} (or the plug-in files ca-cert.pem, ca-key.pem, cert-chain.pem)` : ROOT_CERT;
    throw new CaKeyMaterialError(`${dir} holds a partial self-signed CA: missing ${missing}`);
  }
  if (!present(ROOT_CERT)) {
    createSelfSigned(dir, trustDomain);
    log.info('created self-signed root', { dir, trustDomain });
  }
  return loadSelfSigned(dir);
}
