import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { canonicalIp } from '../base/ip.js';
import { parseSpiffeId } from '../base/spiffe-id.js';
import { TokenTable } from '../ca/tokens.js';
import { NODE_ANNOTATION } from '../model/objects/workload-entry.js';
import { parseDuration, parseFlags, parseHostPort, parsePort, parseTrustDomain, requireFlag } from './flags.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: meshnode vm bootstrap --name NAME --address IP --ca-address HOST:PORT --ca-dir DIR
                             --tokens FILE --out DIR [flags]

Run on the CA host. Prepares what a VM or bare-metal host needs to join the mesh, in --out:
  root-cert.pem        the CA's root, to verify the CA and peers   → /etc/meshnode/ca-root.pem
  ca-token             a bootstrap token for the first certificate → /etc/meshnode/ca-token
  meshnode-agent       the agent's settings (systemd EnvironmentFile) → /etc/default/meshnode-agent
  workload-entry.yaml  the WorkloadEntry to add to the mesh config (on every agent)
and adds the token's grant (its identity only, expiring after --token-ttl) to the CA's --tokens
file, which a running \`meshnode ca\` picks up within a second. The agent renews with its own
certificate, so the token is needed once.

  --name NAME                 WorkloadEntry name (required); also the default node name
  --namespace NS              WorkloadEntry namespace (default default)
  --service-account SA        identity spiffe://TD/ns/NS/sa/SA (default default)
  --address IP                the VM's address peers dial (required)
  --node NAME                 the agent's --node (default: --name)
  --port NAME=PORT            a port the workload serves (repeatable); captured inbound by default
  --label KEY=VALUE           a WorkloadEntry label (repeatable)
  --ca-address HOST:PORT      where the VM reaches the CA (required)
  --ca-dir DIR                the CA's --dir, holding root-cert.pem (required)
  --tokens FILE               the CA's --tokens file; created when missing (required)
  --token-ttl DURATION        how long the bootstrap token is accepted (default 1h)
  --trust-domain TD           mesh trust domain (default cluster.local)
  --out DIR                   where the files are written (required)`;

const FLAGS = {
  name: { type: 'string' },
  namespace: { type: 'string', default: 'default' },
  'service-account': { type: 'string', default: 'default' },
  address: { type: 'string' },
  node: { type: 'string' },
  port: { type: 'string', multiple: true },
  label: { type: 'string', multiple: true },
  'ca-address': { type: 'string' },
  'ca-dir': { type: 'string' },
  tokens: { type: 'string' },
  'token-ttl': { type: 'string', default: '1h' },
  'trust-domain': { type: 'string', default: 'cluster.local' },
  out: { type: 'string' },
} as const;

function pairs(list: readonly string[] | undefined, flag: string): [string, string][] {
  return (list ?? []).map((text) => {
    const eq = text.indexOf('=');
    if (eq <= 0 || eq === text.length - 1) throw new UsageError(`--${flag}: "${text}" is not KEY=VALUE`);
    return [text.slice(0, eq), text.slice(eq + 1)];
  });
}

/** Appends the grant to the CA's tokens file, keeping what is there, and checks the result loads. */
function addGrant(file: string, grant: { token: string; identity: string; expires: string }): void {
  const existing: unknown = existsSync(file) ? parse(readFileSync(file, 'utf8')) ?? [] : [];
  if (!Array.isArray(existing)) throw new UsageError(`--tokens: ${file} is not a list of token grants`);
  const text = stringify([...existing, grant]);
  TokenTable.parse(text, file);
  writeFileSync(file, text, { mode: 0o600 });
}

export async function run(argv: string[]): Promise<number> {
  const v = parseFlags(argv, FLAGS);
  const name = requireFlag(v.name, 'name');
  const address = canonicalIp(requireFlag(v.address, 'address'));
  if (!address) throw new UsageError(`--address: "${v.address}" is not an IP address`);
  const caAddress = requireFlag(v['ca-address'], 'ca-address');
  parseHostPort(caAddress, 'ca-address');
  const trustDomain = parseTrustDomain(v['trust-domain'], 'trust-domain');
  const identity = `spiffe://${trustDomain}/ns/${v.namespace}/sa/${v['service-account']}`;
  const parsedId = parseSpiffeId(identity);
  if (typeof parsedId === 'string') throw new UsageError(`--namespace/--service-account: ${parsedId}`);
  const ports = Object.fromEntries(pairs(v.port, 'port').map(([k, p]) => [k, parsePort(p, 'port')]));
  const labels = Object.fromEntries(pairs(v.label, 'label'));
  const ttlMs = parseDuration(v['token-ttl'], 'token-ttl');
  const root = join(requireFlag(v['ca-dir'], 'ca-dir'), 'root-cert.pem');
  if (!existsSync(root)) throw new UsageError(`--ca-dir: ${root} does not exist (is it the CA's --dir?)`);
  const tokens = requireFlag(v.tokens, 'tokens');
  const out = requireFlag(v.out, 'out');
  const node = v.node ?? name;

  mkdirSync(out, { recursive: true });
  const token = randomBytes(32).toString('hex');
  const expires = new Date(Date.now() + ttlMs).toISOString();
  addGrant(tokens, { token, identity, expires });
  copyFileSync(root, join(out, 'root-cert.pem'));
  writeFileSync(join(out, 'ca-token'), `${token}\n`, { mode: 0o600 });
  writeFileSync(join(out, 'meshnode-agent'), [
    `# meshnode agent settings for WorkloadEntry ${v.namespace}/${name} (${identity})`,
    `MESHNODE_NODE=${node}`,
    `MESHNODE_CA_ADDRESS=${caAddress}`,
    `MESHNODE_AGENT_FLAGS="--trust-domain ${trustDomain}"`,
    '',
  ].join('\n'));
  const entry = {
    apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry',
    metadata: { name, namespace: v.namespace, annotations: { [NODE_ANNOTATION]: node }, ...(Object.keys(labels).length ? { labels } : {}) },
    spec: { address, serviceAccount: v['service-account'], ...(Object.keys(ports).length ? { ports } : {}) },
  };
  writeFileSync(join(out, 'workload-entry.yaml'), stringify(entry));
  process.stdout.write(`wrote ${out}/{root-cert.pem,ca-token,meshnode-agent,workload-entry.yaml}\n` +
    `added a token for ${identity} to ${tokens}, accepted until ${expires}\n`);
  return 0;
}
