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
import { AdminCallError, adminTarget, DEFAULT_ADMIN, getJson } from './ctl/client.js';

export const usage = `usage: meshnode authz check (--config PATH | --admin HOST:PORT) --to NAMESPACE/NAME --port PORT
                           --from-ip IP [--to-ip IP] [--from-identity SPIFFE_ID | --plaintext]
                           [--trust-domain TD] [--root-namespace NS] [--exit-code] [-o json]

Explains whether an inbound connection to a workload would be allowed by the L4 authorization
policies (AuthorizationPolicy, PeerAuthentication) in the config, and why.

  --config PATH            mesh config file or directory
  --admin HOST:PORT        ask a running agent instead, with the policies it enforces now
                           (its admin API, e.g. ${DEFAULT_ADMIN}); one of --config or --admin
  --to NAMESPACE/NAME      destination Pod or WorkloadEntry (required)
  --port PORT              destination (target) port on the workload (required)
  --from-ip IP             source address of the connection (required)
  --to-ip IP               destination address; one of the workload's addresses (default: its first)
  --from-identity ID       peer certificate identity over mTLS, spiffe://TD/ns/NS/sa/SA
  --plaintext              the connection has no mTLS (exactly one of this or --from-identity)
  --trust-domain TD        trust domain of workload identities (default cluster.local)
  --root-namespace NS      namespace whose policies apply mesh-wide (default istio-system)
  --exit-code              exit 1 when the decision is deny (for CI)
  -o, --output FORMAT      text (default) or json: {"decision","policy","reason"}

Exit status: 0 a decision was made (allow, or deny without --exit-code), 1 deny with
--exit-code, 2 bad input (flags, identity, IP, unknown workload, invalid config, an agent that
cannot be reached or refuses the query).`;

/** With --exit-code, a deny exits with this, as diff and grep report "found a difference". */
export const EXIT_DENIED = 1;

interface Request {
  config: string | undefined;
  admin: string | undefined;
  exitCode: boolean;
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
  const decision = req.admin !== undefined ? await askAgent(req, req.admin) : await fromConfig(req, req.config!);
  if (typeof decision === 'number') return decision;
  process.stdout.write(req.json ? JSON.stringify(jsonDecision(decision)) + '\n' : textDecision(decision));
  return req.exitCode && !decision.allowed ? EXIT_DENIED : 0;
}

/** The live decision of a running agent (`/authz/check`); the exit code when it cannot be had. */
async function askAgent(req: Request, admin: string): Promise<Decision | number> {
  const query = {
    to: `${req.namespace}/${req.name}`, port: String(req.port), 'from-ip': req.fromIp, 'to-ip': req.toIp,
    ...(req.identity !== undefined ? { 'from-identity': req.identity } : { plaintext: '' }),
  };
  try {
    const d = await getJson<{ decision: string; policy: string | null; reason: string; dryRun: Decision['dryRun'] }>(adminTarget(admin), '/authz/check', query);
    return { allowed: d.decision === 'allow', code: d.decision === 'allow' ? 'allow-matched' : 'deny-matched', policy: d.policy, reason: d.reason, dryRun: d.dryRun };
  } catch (err) {
    if (!(err instanceof AdminCallError)) throw err;
    return fail(err.message);
  }
}

async function fromConfig(req: Request, config: string): Promise<Decision | number> {
  await access(config, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--config: cannot read "${config}": ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  const loaded = await loadMeshConfig(config, req.settings);
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
  return explain(req, config, workload, authorize(compilePolicies(loaded.snapshot), workload, conn));
}

function parseRequest(argv: string[]): Request {
  const flags = parseFlags(argv, {
    config: { type: 'string' }, admin: { type: 'string' }, 'exit-code': { type: 'boolean', default: false },
    to: { type: 'string' }, port: { type: 'string' },
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
  if (flags.config !== undefined && flags.admin !== undefined) throw new UsageError('--config and --admin are alternatives; give one');
  if (flags.admin !== undefined) adminTarget(flags.admin);
  return {
    config: flags.admin === undefined ? requireFlag(flags.config, 'config') : undefined, admin: flags.admin, exitCode: flags['exit-code'],
    namespace: to[1]!, name: to[2]!,
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
async function explain(req: Request, config: string, workload: Workload, decision: Decision): Promise<Decision> {
  if (decision.code !== 'peer-authn-strict' || !decision.policy?.endsWith('/istio_converted_static_strict')) return decision;
  const quiet = new Problems();
  const objects = (await readDocuments(config, quiet)).filter((d) => isSecurityKind(d.apiVersion, d.kind))
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
