import type { X509Certificate } from 'node:crypto';
import { children, readExactly } from '../base/der.js';
import { parseSpiffeId, type Identity, type SpiffeId } from '../base/spiffe-id.js';
import { certificateFields, OID, parseGeneralNames } from '../base/x509.js';

/**
 * The shape an HBONE peer's leaf certificate must have, on top of chaining to the trust bundle
 * (which OpenSSL checks, path-length constraints included). Chain verification alone accepts
 * any leaf the CA signed; a workload certificate (X.509-SVID, as Istio issues it) is narrower:
 *
 * - not a CA (basicConstraints cA false or absent) — a leaf that may sign could mint identities;
 * - an extended key usage naming the purpose it is used for here (clientAuth for a client,
 *   serverAuth for a server); OpenSSL accepts a leaf without the extension;
 * - exactly one subject alternative name, a SPIFFE URI — two URIs would make "which one is the
 *   peer" ambiguous, and a DNS or IP name has no meaning in the mesh.
 */
export type PeerRole = 'client' | 'server';

export interface PeerIdentity {
  readonly id: SpiffeId;
  readonly identity: Identity;
}

const PURPOSE: Record<PeerRole, string> = { client: OID.clientAuth, server: OID.serverAuth };

/** The leaf's one SPIFFE identity, or why it is not a workload certificate for `role`. */
export function workloadIdentity(leaf: X509Certificate, role: PeerRole): PeerIdentity | string {
  try {
    const { extensions } = certificateFields(leaf.raw);
    const constraints = extensions.get(OID.basicConstraints);
    if (constraints && isCa(constraints.value)) return `${role} certificate is a CA certificate (basicConstraints CA:TRUE)`;
    const usages = leaf.keyUsage ?? [];
    if (!usages.includes(PURPOSE[role])) {
      return `${role} certificate lacks the ${role === 'client' ? 'clientAuth' : 'serverAuth'} extended key usage`;
    }
    const san = extensions.get(OID.subjectAltName);
    if (!san) return `${role} certificate has no spiffe uri san`;
    const names = parseGeneralNames(san.value);
    if (names.uris.length !== 1 || names.dns.length > 0 || names.ips.length > 0 || names.other > 0) {
      return `${role} certificate must name exactly one spiffe uri and nothing else: got ${names.uris.length} uri, ` +
        `${names.dns.length} dns, ${names.ips.length} ip, ${names.other} other`;
    }
    const uri = names.uris[0]!;
    const identity = parseSpiffeId(uri);
    if (typeof identity === 'string') return `${role} certificate has no spiffe uri san: ${identity}`;
    return { id: uri as SpiffeId, identity };
  } catch (err) {
    return `${role} certificate is malformed: ${(err as Error).message}`;
  }
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
function isCa(value: Buffer): boolean {
  const first = children(readExactly(value, 0x30, 'basicConstraints'))[0];
  return first?.tag === 0x01 && first.value[0] !== 0;
}
