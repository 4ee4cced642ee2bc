import { access, constants } from 'node:fs/promises';
import { authorize, compilePolicies, type Decision } from '../authz/index.js';
import { readDocuments } from '../config/documents.js';
import { formatProblem, Problems } from '../config/problems.js';
import { parseSpiffeId } from '../base/spiffe-id.js';
import { canonicalIp } from '../base/ip.js';
import { loadMeshConfig } from '../model/load.js';
import { StateStore } from '../state/store.js';
import { explainPeerAuthentication, isSecurityKind, parseSecurityDoc, type SecurityObject } from '../model/security/index.js';
import type { Workload } from '../model/types.js';
import { parseFlags, parsePort, parseTrustDomain, requireFlag } from './flags.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: meshnode authz check --config PATH --to NAMESPACE/NAME --port PORT --from-ip IP
                           [--to-ip IP] [--from-identity SPIFFE_ID | --plaintext]
                           [--trust-domain TD] [--root-namespace NS] [-o json]

Explains whether an inbound connection to a workload would be allowed by the L4 authorization
policies (AuthorizationPolicy, PeerAuthentication) in the config, and why.

  --config PATH            mesh config file or directory (required)
  --to NAMESPACE/NAME      destination Pod or WorkloadEntry (required)
  --port PORT              destination (target) port on the workload (required)
  --from-ip IP             source address of the connection (required)
  --to-ip IP               destination address; one of the workload's addresses (default: its first)
  --from-identity ID       peer certificate identity over mTLS, spiffe://TD/ns/NS/sa/SA
  --plaintext              the connection has no mTLS (exactly one of this or --from-identity)
  --trust-domain TD        trust domain of workload identities (default cluster.local)
  --root-namespace NS      namespace whose policies apply mesh-wide (default istio-system)
  -o, --output FORMAT      text (default) or json: {"decision","policy","reason"}

Exit status: 0 a decision was made (allow or deny), 2 bad input (flags, identity, IP, unknown
workload, invalid config).`;

interface Request {
  config: string;
  namespace: string;
  name: string;
  port: number;
  fromIp: string;
  toIp: string | undefined;
  identity: string | undefined;
  json: boolean;
  settings: { trustDomain: string; rootNamespace: string };
}

export async function run(argv: string[]): Promise<number> {
  const req = parseRequest(argv);
  await access(req.config, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--config: cannot read "${req.config}": ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  const loaded = await loadMeshConfig(req.config, req.settings);
  for (const p of loaded.problems) process.stderr.write(formatProblem(p) + '\n');
  if (!loaded.snapshot) {
    const errors = loaded.problems.filter((p) => p.severity === 'error').length;
    return fail(`the config has ${errors} error${errors === 1 ? '' : 's'} (listed above); no decision made`);
  }
  const workload = StateStore.fromSnapshot(loaded.snapshot).workloadByName(req.namespace, req.name);
  if (!workload) return fail(`--to: no Pod or WorkloadEntry ${req.namespace}/${req.name} in the config`);
  const dstIp = destinationIp(workload, req.toIp);
  if (typeof dstIp !== 'string') return fail(dstIp.error);
  const conn = { srcIp: req.fromIp, dstIp, dstPort: req.port, ...(req.identity ? { identity: req.identity } : {}) };
  const decision = await explain(req, workload, authorize(compilePolicies(loaded.snapshot), workload, conn));
  process.stdout.write(req.json ? JSON.stringify(jsonDecision(decision)) + '\n' : textDecision(decision));
  return 0;
}

function parseRequest(argv: string[]): Request {
  const flags = parseFlags(argv, {
    config: { type: 'string' }, to: { type: 'string' }, port: { type: 'string' },
    'from-ip': { type: 'string' }, 'to-ip': { type: 'string' }, 'from-identity': { type: 'string' },
    plaintext: { type: 'boolean', default: false },
    'trust-domain': { type: 'string', default: 'cluster.local' },
    'root-namespace': { type: 'string', default: 'istio-system' },
    output: { type: 'string', short: 'o', default: 'text' },
  });
  const to = /^([^/\s]+)\/([^/\s]+)$/.exec(requireFlag(flags.to, 'to'));
  if (!to) throw new UsageError(`--to: "${flags.to}" is not NAMESPACE/NAME`);
  const identity = flags['from-identity'];
  if ((identity !== undefined) === flags.plaintext) throw new UsageError('exactly one of --from-identity or --plaintext is required');
  if (identity !== undefined) {
    const parsed = parseSpiffeId(identity);
    if (typeof parsed === 'string') throw new UsageError(`--from-identity: ${parsed}`);
  }
  if (flags.output !== 'text' && flags.output !== 'json') throw new UsageError(`-o: "${flags.output}" is not text or json`);
  return {
    config: requireFlag(flags.config, 'config'), namespace: to[1]!, name: to[2]!,
    port: parsePort(requireFlag(flags.port, 'port'), 'port'),
    fromIp: ip(requireFlag(flags['from-ip'], 'from-ip'), 'from-ip'),
    toIp: flags['to-ip'] === undefined ? undefined : ip(flags['to-ip'], 'to-ip'),
    identity, json: flags.output === 'json',
    settings: { trustDomain: parseTrustDomain(flags['trust-domain'], 'trust-domain'), rootNamespace: flags['root-namespace'] },
  };
}

function ip(text: string, flag: string): string {
  const canonical = canonicalIp(text);
  if (canonical === undefined) throw new UsageError(`--${flag}: "${text}" is not an IP address`);
  return canonical;
}

function destinationIp(w: Workload, wanted: string | undefined): string | { error: string } {
  const key = `${w.namespace}/${w.name}`;
  if (wanted === undefined) return w.addresses[0] ?? { error: `${w.kind} ${key} has no IP address; pass --to-ip` };
  if (w.addresses.includes(wanted)) return wanted;
  const known = w.addresses.length > 0 ? w.addresses.join(', ') : 'none';
  return { error: `--to-ip: ${wanted} is not an address of ${w.kind} ${key} (its addresses: ${known})` };
}

/**
 * The engine's STRICT refusal names the shared static policy; an operator needs the
 * PeerAuthentication behind it, which only the source objects know.
 */
async function explain(req: Request, workload: Workload, decision: Decision): Promise<Decision> {
  if (decision.code !== 'peer-authn-strict' || !decision.policy?.endsWith('/istio_converted_static_strict')) return decision;
  const quiet = new Problems();
  const objects = (await readDocuments(req.config, quiet)).filter((d) => isSecurityKind(d.apiVersion, d.kind))
    .map((d) => parseSecurityDoc(d, quiet)).filter((o): o is SecurityObject => o !== undefined);
  const source = explainPeerAuthentication(objects, workload, req.port, req.settings);
  return source ? { ...decision, reason: `plaintext connection refused: ${source} for port ${req.port}` } : decision;
}

function fail(message: string): number {
  process.stderr.write(`meshnode authz check: ${message}\n`);
  return 2;
}

function jsonDecision(d: Decision): { decision: 'allow' | 'deny'; policy: string | null; reason: string } {
  return { decision: d.allowed ? 'allow' : 'deny', policy: d.policy, reason: d.reason };
}

function textDecision(d: Decision): string {
  const lines = [
    `decision: ${d.allowed ? 'allow' : 'deny'}`,
    `policy:   ${d.policy ?? '(none)'}`,
    `reason:   ${d.reason}`,
    ...d.dryRun.map((r) => `dry-run:  ${r.policy} ${r.matched ? 'would match' : 'would not match'}`),
  ];
  return lines.join('\n') + '\n';
}
