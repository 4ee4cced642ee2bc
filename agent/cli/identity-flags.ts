import { hostname } from 'node:os';
import { parseDuration, parseHostPort } from './flags.js';
import { UsageError } from './usage-error.js';
import type { CertManagerOptions } from '../identity/index.js';

/**
 * The certificate manager's `meshnode agent` flags, merged by the agent command into its own
 * parseArgs options. Defaults follow ztunnel where it has one.
 */
export const identityFlagSpecs = {
  node: { type: 'string' },
  'ca-address': { type: 'string', default: 'localhost:15012' },
  'ca-root': { type: 'string', default: '/var/run/secrets/istio/root-cert.pem' },
  'ca-token-file': { type: 'string' },
  'cluster-id': { type: 'string', default: 'Kubernetes' },
  'trust-bundle': { type: 'string' },
  'cert-ttl': { type: 'string', default: '24h' },
  'cert-dir': { type: 'string' },
} as const;

export const identityFlagsUsage = `  --node NAME              this node's name (default: the host name)
  --ca-address HOST:PORT   CA serving the Istio CA API (default localhost:15012)
  --ca-root FILE           root(s) verifying the CA's serving certificate
                           (default /var/run/secrets/istio/root-cert.pem)
  --ca-token-file FILE     bearer token sent to the CA, re-read on every request
  --cluster-id ID          sent to the CA as clusterid (default Kubernetes)
  --trust-bundle FILE      roots trusted for peers and CA responses (default: --ca-root)
  --cert-ttl DURATION      certificate lifetime to request (default 24h)
  --cert-dir DIR           also write DIR/<ns>/<sa>/{cert-chain.pem,key.pem,root-cert.pem}`;

export interface IdentityFlagValues {
  readonly node?: string | undefined;
  readonly 'ca-address'?: string | undefined;
  readonly 'ca-root'?: string | undefined;
  readonly 'ca-token-file'?: string | undefined;
  readonly 'cluster-id'?: string | undefined;
  readonly 'trust-bundle'?: string | undefined;
  readonly 'cert-ttl'?: string | undefined;
  readonly 'cert-dir'?: string | undefined;
}

const MIN_TTL_MS = 2_000;

function nonEmpty(value: string | undefined, flag: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (value.trim() === '') throw new UsageError(`--${flag} must not be empty`);
  return value;
}

/** CertManagerOptions from parsed flag values; UsageError on a bad value. */
export function parseIdentityOptions(values: IdentityFlagValues): CertManagerOptions {
  const d = identityFlagSpecs;
  const caAddress = parseHostPort(nonEmpty(values['ca-address'], 'ca-address', d['ca-address'].default), 'ca-address');
  if (caAddress.host === '' || caAddress.port === 0) throw new UsageError(`--ca-address: "${values['ca-address']}" needs a host and a non-zero port`);
  const certTtlMs = parseDuration(nonEmpty(values['cert-ttl'], 'cert-ttl', d['cert-ttl'].default), 'cert-ttl');
  if (certTtlMs < MIN_TTL_MS) throw new UsageError('--cert-ttl must be at least 2s');
  const caRootFile = nonEmpty(values['ca-root'], 'ca-root', d['ca-root'].default);
  return {
    node: nonEmpty(values.node, 'node', hostname()),
    caAddress,
    caRootFile,
    tokenFile: values['ca-token-file'] === undefined ? undefined : nonEmpty(values['ca-token-file'], 'ca-token-file', ''),
    clusterId: nonEmpty(values['cluster-id'], 'cluster-id', d['cluster-id'].default),
    trustBundleFile: values['trust-bundle'] === undefined ? caRootFile : nonEmpty(values['trust-bundle'], 'trust-bundle', ''),
    certTtlMs,
    certDir: values['cert-dir'] === undefined ? undefined : nonEmpty(values['cert-dir'], 'cert-dir', ''),
  };
}
