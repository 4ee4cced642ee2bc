import { inNetns, jsonLines } from './control-plane.js';
import type { Daemon } from './system.js';
import { waitFor } from './system.js';
import { podNamed, SERVER_PORT, spiffeOf, type DemoPod, type Topology } from './topology.js';

export interface DemoState {
  readonly topology: Topology;
  readonly agents: ReadonlyMap<string, Daemon>;
  readonly servers: ReadonlyMap<string, Daemon>;
  readonly vm: { readonly agent: Daemon; readonly server: Daemon };
}

export interface StepOutcome {
  readonly ok: boolean;
  readonly lines: readonly string[];
}

export interface Step {
  readonly title: string;
  /** What the step shows and what should happen, printed before it runs. */
  readonly expect: string;
  run(s: DemoState): Promise<StepOutcome>;
}

interface CallResult {
  connected: boolean;
  reply: string;
  ended: string;
  error?: string;
}

async function call(from: DemoPod, to: DemoPod): Promise<CallResult> {
  return callFrom(from.netns, `${to.ip}:${to.serves ?? SERVER_PORT}`);
}

async function callFrom(netns: string, target: string): Promise<CallResult> {
  return JSON.parse(await inNetns(netns, ['call', target, '--timeout', '6000'])) as CallResult;
}

function describeCall(r: CallResult): string {
  if (r.reply) return `the app got an answer: "${r.reply.split('\n')[0]}"`;
  if (!r.connected) return `the connection failed (${r.error ?? r.ended})`;
  return `the connection was closed without a byte of answer (${r.ended}${r.error ? `: ${r.error}` : ''})`;
}

function mentions(value: unknown, needle: string): boolean {
  if (typeof value === 'string') return value.includes(needle);
  if (typeof value === 'object' && value !== null) return Object.values(value).some((v) => mentions(v, needle));
  return false;
}

/** The agent's log lines about a connection from `source` (access log and authorization). */
function logLinesAbout(agent: Daemon, needles: string[]): Record<string, unknown>[] {
  return jsonLines(agent.log()).filter((l) => needles.every((n) => mentions(l, n)));
}

/** One access-log line in words: who, as which identity, to what, and the decision. */
function summarize(line: Record<string, unknown>): string {
  const f = (k: string) => (typeof line[k] === 'string' || typeof line[k] === 'number' ? String(line[k]) : undefined);
  const who = `${f('src.addr')} ${f('src.identity') ? `as ${f('src.identity')}` : '(no identity: plaintext)'}`;
  const to = `${f('dst.namespace')}/${f('dst.workload')} ${f('dst.hbone_addr') ?? f('dst.addr')}${f('dst.hbone_addr') ? ' via HBONE' : ''}`;
  const outcome = f('error') ? `refused, ${f('decision') ?? 'error'}: ${f('error')}` : `${f('decision') ?? 'allowed'}, ${f('bytes_sent')}/${f('bytes_recv')} bytes`;
  return `${f('direction')} ${who} → ${to}: ${outcome}`;
}

function serverConnections(server: Daemon | undefined): number {
  return server ? jsonLines(server.log()).filter((l) => l.event === 'connection').length : 0;
}

async function expectLogLine(agent: Daemon, needles: string[]): Promise<Record<string, unknown> | undefined> {
  return waitFor('the agent to log the connection', 5000, () => logLinesAbout(agent, needles).at(-1)).catch(() => undefined);
}

/** The caller address the sample server reports ("I see you as ADDR:PORT"), IPv4-mapped unwrapped. */
function seenAs(reply: string): string | undefined {
  return /I see you as (?:::ffff:)?(\S+):\d+/.exec(reply)?.[1];
}

const allowedCall: Step = {
  title: 'An allowed call across nodes',
  expect: 'shop/frontend on node-a calls shop/cart on node-b. Both pods are in the mesh, so the call is carried over HBONE (mTLS) and the cart\'s agent authorizes the frontend\'s identity. The cart app sees the frontend\'s own IP as the caller: the agent connects to it from that address.',
  async run(s) {
    const [frontend, cart] = [podNamed(s.topology, 'frontend'), podNamed(s.topology, 'cart')];
    const r = await call(frontend, cart);
    const lines = [`frontend → ${cart.ip}:${SERVER_PORT}: ${describeCall(r)}`];
    const seen = seenAs(r.reply);
    const ok = r.reply.startsWith(`hello from shop/cart`) && seen === frontend.ip;
    if (seen !== undefined) {
      lines.push(seen === frontend.ip
        ? `the cart app sees the caller as ${seen}, the frontend's pod IP (client address preserved)`
        : `the cart app sees the caller as ${seen}, not the frontend's pod IP ${frontend.ip}`);
    }
    const line = await expectLogLine(s.agents.get(cart.node.name)!, [spiffeOf(s.topology, frontend), cart.ip]);
    lines.push(line
      ? `node-b's agent authorized ${line['src.identity']}; its access log says:\n     ${summarize(line)}`
      : `node-b's agent logged nothing about ${spiffeOf(s.topology, frontend)}`);
    return { ok: ok && line !== undefined, lines };
  },
};

/**
 * A call from `fromName` to the cart that the cart's agent must refuse: the client gets no answer,
 * the cart app accepts nothing, and the agent's log records `decision` for the log line matching
 * `logKey` of the caller (its identity or its IP).
 */
async function refusedCall(s: Parameters<Step['run']>[0], fromName: string, logKey: (from: ReturnType<typeof podNamed>) => string, decision: string) {
  const [from, cart] = [podNamed(s.topology, fromName), podNamed(s.topology, 'cart')];
  const before = serverConnections(s.servers.get('cart'));
  const r = await call(from, cart);
  const reached = serverConnections(s.servers.get('cart')) - before;
  const lines = [`${fromName} → ${cart.ip}:${SERVER_PORT}: ${describeCall(r)}`, `connections the cart app accepted: ${reached}`];
  const line = await expectLogLine(s.agents.get(cart.node.name)!, [logKey(from)]);
  if (line) lines.push(`node-b's agent: ${summarize(line)}`);
  return { ok: r.reply === '' && reached === 0 && line?.decision === decision, lines };
}

const deniedCall: Step = {
  title: 'A call denied by an AuthorizationPolicy',
  expect: 'shop/reviews is in the mesh too, but the policy shop/cart-callers only lets the frontend\'s service account in. The cart\'s agent refuses the tunnel; the cart app never sees the connection.',
  run: (s) => refusedCall(s, 'reviews', (reviews) => spiffeOf(s.topology, reviews), 'no-allow-matched'),
};

const plaintextCall: Step = {
  title: 'Plaintext from outside the mesh, refused under STRICT',
  expect: 'legacy/batch is not in the mesh, so it sends plain TCP straight to the cart. Inside the cart\'s pod the redirection rules hand it to the agent (port 15006), and mesh-wide STRICT mTLS refuses it.',
  run: (s) => refusedCall(s, 'batch', (batch) => batch.ip, 'peer-authn-strict'),
};

interface CertStatusLine {
  identity?: string;
  serial?: string;
  notAfter?: string;
  state?: string;
}

const certificates: Step = {
  title: 'Certificates in use (admin API, GET /certs)',
  expect: 'Each agent holds one certificate per identity of the pods on its node, issued by the built-in CA.',
  async run(s) {
    const lines: string[] = [];
    let ok = true;
    for (const node of s.topology.nodes) {
      const body = JSON.parse(await inNetns(node.netns, ['get', 'http://127.0.0.1:15000/certs'])) as unknown;
      const certs = (Array.isArray(body) ? body : ((body as { certificates?: unknown[] }).certificates ?? [])) as CertStatusLine[];
      const wanted = s.topology.pods.filter((p) => p.node === node && p.namespace !== 'legacy').map((p) => spiffeOf(s.topology, p));
      for (const c of certs) lines.push(`${node.name}: ${c.identity}  serial ${c.serial?.slice(0, 16)}…  valid until ${c.notAfter}  (${c.state})`);
      ok &&= wanted.every((id) => certs.some((c) => c.identity === id && c.state === 'available' && Boolean(c.serial)));
    }
    return { ok, lines };
  },
};

const metrics: Step = {
  title: 'A few metrics (GET :15020/metrics on node-b)',
  expect: 'Istio-compatible connection metrics, labelled with the workloads and identities involved.',
  async run(s) {
    const text = await inNetns(s.topology.nodes[1].netns, ['get', 'http://127.0.0.1:15020/metrics']);
    const interesting = text.split('\n').filter((l) => /^(istio_tcp_connections_opened_total|istio_tcp_connections_closed_total|istio_tcp_received_bytes_total|meshnode_\w*(denied|denial)\w*)/.test(l));
    const short = interesting.map((l) => l.replace(/\{(.*)\}/, (_, labels: string) =>
      `{${labels.split(/,(?=\w+=)/).filter((kv) => /^(reporter|source_principal|destination_workload|connection_security_policy|reason)=/.test(kv)).join(',')}}`));
    return { ok: interesting.some((l) => l.startsWith('istio_tcp_connections_opened_total') && !/ 0$/.test(l)), lines: short.slice(0, 10) };
  },
};

/** One call from `netns` to `target`, described, with the line `agent` logged about it (matching `needles`). */
async function tracedCall(netns: string, label: string, target: string, agent: { daemon: Daemon; name: string }, needles: string[]) {
  const r = await callFrom(netns, target);
  const lines = [`${label} → ${target}: ${describeCall(r)}`];
  const line = await expectLogLine(agent.daemon, needles);
  if (line) lines.push(`${agent.name}: ${summarize(line)}`);
  return { r, line, lines };
}

/** A call expected to be answered by `greeting`, carried over HBONE and logged by the receiving agent. */
interface AnsweredCall {
  readonly from: { netns: string; label: string };
  readonly target: string;
  readonly agent: { daemon: Daemon; name: string };
  readonly needles: string[];
  readonly greeting: string;
}

function answeredStep(title: string, expect: string, plan: (s: DemoState) => AnsweredCall): Step {
  return {
    title, expect,
    async run(s) {
      const c = plan(s);
      const { r, line, lines } = await tracedCall(c.from.netns, c.from.label, c.target, c.agent, c.needles);
      return { ok: r.reply.startsWith(`hello from ${c.greeting}`) && line !== undefined, lines };
    },
  };
}

const podToVm = answeredStep('A pod calls a service on the VM',
  'shop/frontend calls the Service shop/billing, whose endpoint is the VM (a WorkloadEntry). The frontend\'s agent sends it over HBONE to the VM\'s port 15008, where the VM\'s agent — host mode, running as its own user — authorizes the frontend and connects to the app on the VM.',
  (s) => {
    const frontend = podNamed(s.topology, 'frontend');
    return {
      from: { netns: frontend.netns, label: 'frontend' }, target: `${s.topology.vm.vip}:80`, agent: { daemon: s.vm.agent, name: 'the VM\'s agent' },
      needles: [spiffeOf(s.topology, frontend), s.topology.vm.address], greeting: `${s.topology.vm.namespace}/${s.topology.vm.name}`,
    };
  });

const vmPolicy: Step = {
  title: 'A policy on the VM\'s workload',
  expect: 'shop/billing-callers lets only the frontend call billing. shop/reviews is in the mesh, but the VM\'s agent refuses its tunnel; the app on the VM never sees the connection.',
  async run(s) {
    const vm = s.topology.vm;
    const reviews = podNamed(s.topology, 'reviews');
    const before = serverConnections(s.vm.server);
    const { r, line, lines } = await tracedCall(reviews.netns, 'reviews', `${vm.address}:${vm.serves}`, { daemon: s.vm.agent, name: 'the VM\'s agent' },
      [spiffeOf(s.topology, reviews)]);
    const reached = serverConnections(s.vm.server) - before;
    lines.push(`connections the VM app accepted: ${reached}`);
    return { ok: r.reply === '' && reached === 0 && line?.decision === 'no-allow-matched', lines };
  },
};

const vmToPod = answeredStep('The VM calls a pod',
  'An app on the VM calls shop/cart on node-b. The VM\'s capture rules hand the connection to its agent (15001), which carries it over HBONE with the VM\'s identity; the cart-callers policy admits that identity.',
  (s) => {
    const cart = podNamed(s.topology, 'cart');
    return {
      from: { netns: s.topology.vm.netns, label: s.topology.vm.name }, target: `${cart.ip}:${SERVER_PORT}`,
      agent: { daemon: s.agents.get(cart.node.name)!, name: 'node-b\'s agent' }, needles: [spiffeOf(s.topology, s.topology.vm), cart.ip], greeting: 'shop/cart',
    };
  });

export const STEPS: readonly Step[] = [allowedCall, deniedCall, plaintextCall, podToVm, vmPolicy, vmToPod, certificates, metrics];
