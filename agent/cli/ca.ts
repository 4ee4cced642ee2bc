import { createLogger } from '../telemetry/log.js';
import { CaServer } from '../ca/server.js';
import { CaKeyMaterialError } from '../ca/errors.js';
import { KubeConfigError } from '../ca/kube-api.js';
import type { KubeCaOptions } from '../ca/server.js';
import { parseSpiffeId } from '../base/spiffe-id.js';
import { ListenError } from '../base/http-endpoint.js';
import { parseDuration, parseFlags, parseHostPort, parseTrustDomain, requireFlag } from './flags.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: meshnode ca --dir DIR [--listen HOST:PORT] [--trust-domain TD] [--tokens FILE]
                   [--kube [--kubeconfig FILE] [--token-audience AUD]... [--trusted-node-accounts LIST]]
                   [--metrics-address HOST:PORT] [--hostname NAME]... [--default-ttl DURATION] [--max-ttl DURATION]
                   [--crl-validity DURATION]
       meshnode ca revoke | unrevoke | revocations --dir DIR ...   (see meshnode help ca revoke)

Runs the built-in CA serving the Istio CA API (istio.v1.auth.IstioCertificateService) over gRPC/TLS.

  --dir DIR               key material: Istio's plug-in set (ca-cert.pem, ca-key.pem, cert-chain.pem,
                          root-cert.pem) or, when absent, a self-signed root created here and reused
  --listen HOST:PORT      address to serve on (default 0.0.0.0:15012; port 0 picks a free port)
  --trust-domain TD       trust domain, the O of a new self-signed root (default cluster.local)
  --tokens FILE           YAML list of {token, identity, impersonate?} bearer-token grants
  --kube                  authenticate other bearer tokens with the Kubernetes TokenReview API (in-cluster
                          config unless --kubeconfig) and authorize node agents' impersonation by their node
  --kubeconfig FILE       kubeconfig to reach the API server with, instead of the in-cluster config
  --token-audience AUD    audience a token must carry (repeatable; default istio-ca)
  --trusted-node-accounts LIST
                          comma-separated NAMESPACE/SERVICEACCOUNT of node agents that may request their
                          node's pods' identities (default meshnode-system/meshnode)
  --metrics-address HOST:PORT
                          serve Prometheus metrics at /metrics there (default: not served)
  --hostname NAME         extra DNS name or IP for the CA's serving certificate (repeatable)
  --default-ttl DURATION  lifetime when a request asks for none (default 24h)
  --max-ttl DURATION      longest lifetime granted (default 90d)
  --crl-validity DURATION thisUpdate to nextUpdate of the CRL published at DIR/ca-crl.pem; it is
                          re-signed half-way, and at once on every revocation (default 24h)

Records every certificate it issues in DIR/issued.jsonl, follows DIR/revocations.json (written by
\`meshnode ca revoke\`) and pushes its CRL to agents (MeshnodeRevocationService/WatchRevocations).
Logs one JSON line {"msg":"listening","port":N} once serving, and one audit line per certificate.`;

const FLAGS = {
  dir: { type: 'string' },
  listen: { type: 'string', default: '0.0.0.0:15012' },
  'trust-domain': { type: 'string', default: 'cluster.local' },
  tokens: { type: 'string' },
  kube: { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  'token-audience': { type: 'string', multiple: true },
  'trusted-node-accounts': { type: 'string' },
  'metrics-address': { type: 'string' },
  hostname: { type: 'string', multiple: true },
  'default-ttl': { type: 'string', default: '24h' },
  'max-ttl': { type: 'string', default: '90d' },
  'crl-validity': { type: 'string', default: '24h' },
} as const;

const DEFAULT_AUDIENCE = 'istio-ca';
const DEFAULT_TRUSTED_NODE_ACCOUNTS = 'meshnode-system/meshnode';

/** `ns/sa,ns/sa`: each entry checked as the namespace and service account of a SPIFFE id are. */
export function parseNodeAccounts(text: string): string[] {
  const entries = text.split(',').map((e) => e.trim());
  for (const entry of entries) {
    const parts = entry.split('/');
    if (parts.length !== 2 || typeof parseSpiffeId(`spiffe://x/ns/${parts[0]}/sa/${parts[1]}`) === 'string') {
      throw new UsageError(`--trusted-node-accounts: "${entry}" is not NAMESPACE/SERVICEACCOUNT (Kubernetes names)`);
    }
  }
  return entries;
}

type CaFlags = ReturnType<typeof parseFlags<typeof FLAGS>>;

function kubeOptions(values: CaFlags): KubeCaOptions | undefined {
  if (!values.kube) {
    const stray = (['kubeconfig', 'token-audience', 'trusted-node-accounts'] as const).find((f) => values[f] !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --kube`);
    return undefined;
  }
  const audiences = values['token-audience'] ?? [DEFAULT_AUDIENCE];
  if (audiences.some((a) => a.trim() === '')) throw new UsageError('--token-audience: must not be empty');
  return {
    kubeconfig: values.kubeconfig, audiences,
    trustedNodeAccounts: parseNodeAccounts(values['trusted-node-accounts'] ?? DEFAULT_TRUSTED_NODE_ACCOUNTS),
  };
}

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags(argv, FLAGS);
  const trustDomain = parseTrustDomain(values['trust-domain'], 'trust-domain');
  const defaultTtlMs = parseDuration(values['default-ttl'], 'default-ttl');
  const maxTtlMs = parseDuration(values['max-ttl'], 'max-ttl');
  if (defaultTtlMs > maxTtlMs) throw new UsageError('--default-ttl must not exceed --max-ttl');
  const crlValidityMs = parseDuration(values['crl-validity'], 'crl-validity');
  if (crlValidityMs < 2_000) throw new UsageError('--crl-validity must be at least 2s');
  const kube = kubeOptions(values);
  const metrics = values['metrics-address'] === undefined ? undefined : parseHostPort(values['metrics-address'], 'metrics-address');
  const log = createLogger('ca');
  let server: CaServer;
  try {
    server = await CaServer.start({
      dir: requireFlag(values.dir, 'dir'), listen: parseHostPort(values.listen, 'listen'), trustDomain,
      tokensFile: values.tokens, kube, metrics, hostnames: values.hostname ?? [], defaultTtlMs, maxTtlMs, crlValidityMs, log,
    });
  } catch (err) {
    // Bad key material, an unusable kubeconfig and a port in use are the operator's to fix: one line, no stack trace.
    if (!(err instanceof CaKeyMaterialError || err instanceof ListenError || err instanceof KubeConfigError)) throw err;
    log.error('cannot start', { error: err.message });
    process.stderr.write(`meshnode ca: ${err.message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('shutting down', { signal });
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
