import { randomInt } from 'node:crypto';
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { MESHNODE_MAIN, SAMPLE_APP, installedNodeFlags, tail } from './control-plane.js';
import { exec, startDaemon, waitFor, type Daemon, type Resources } from './system.js';

/**
 * A "VM": a network namespace whose agent runs in host mode, as the systemd unit runs it — a
 * dedicated user (here a numeric uid that exists nowhere else on the machine) holding only
 * CAP_NET_ADMIN and CAP_NET_RAW as ambient capabilities. Shared by the demo and the tests.
 */
export interface VmSpec {
  readonly netns: string;
  /** The VM's own directory: its bootstrap files, state/, agent.log; owned by `uid`. */
  readonly dir: string;
  readonly node: string;
  /** The mesh config; must be readable by `uid`. */
  readonly config: string;
  readonly caAddress: string;
  readonly trustDomain: string;
  readonly uid: number;
  /** Further `meshnode agent` flags (capture lists, cert TTL). */
  readonly flags?: readonly string[];
}

export interface VmBootstrap {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly address: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
}

/** `meshnode vm bootstrap` into `out`, adding the token's grant to the CA's tokens file. */
export async function bootstrapVm(vm: VmBootstrap, opts: { out: string; node: string; caDir: string; caAddress: string; tokens: string; trustDomain: string }): Promise<string> {
  return exec(process.execPath, [MESHNODE_MAIN, 'vm', 'bootstrap', '--name', vm.name, '--namespace', vm.namespace,
    '--service-account', vm.serviceAccount, '--address', vm.address, '--node', opts.node,
    ...Object.entries(vm.ports).flatMap(([n, p]) => ['--port', `${n}=${p}`]),
    ...Object.entries(vm.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    '--ca-address', opts.caAddress, '--ca-dir', opts.caDir, '--tokens', opts.tokens,
    '--trust-domain', opts.trustDomain, '--out', opts.out]);
}

const CAPS = '+net_admin,+net_raw';

/** A uid no account on this machine has, standing for the dedicated agent user. */
export function throwawayUid(): number {
  const used = new Set(readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => Number(l.split(':')[2])));
  for (;;) {
    const uid = randomInt(40_000, 60_000);
    if (!used.has(uid)) return uid;
  }
}

export function vmAgentArgs(spec: VmSpec): string[] {
  return ['setpriv', `--reuid=${spec.uid}`, `--regid=${spec.uid}`, '--clear-groups', `--inh-caps=${CAPS}`, `--ambient-caps=${CAPS}`, '--',
    process.execPath, ...installedNodeFlags(), MESHNODE_MAIN, 'agent', '--host-mode', '--config', spec.config, '--node', spec.node,
    '--ca-address', spec.caAddress, '--ca-root', `${spec.dir}/root-cert.pem`, '--ca-token-file', `${spec.dir}/ca-token`,
    '--state-dir', `${spec.dir}/state`, '--trust-domain', spec.trustDomain, ...(spec.flags ?? [])];
}

/** Starts the VM's agent; resolves once /healthz/ready answers 200 inside the VM. */
export async function startVmAgent(res: Resources, spec: VmSpec): Promise<Daemon> {
  mkdirSync(`${spec.dir}/state`, { recursive: true });
  for (const p of [spec.dir, `${spec.dir}/state`, `${spec.dir}/ca-token`]) chownSync(p, spec.uid, spec.uid);
  const agent = startDaemon(res, `agent on ${spec.node}`, spec.netns, vmAgentArgs(spec), `${spec.dir}/agent.log`);
  await waitFor(`the agent on ${spec.node} to be ready`, 30_000, async () => {
    if (agent.exited) throw new Error(`the agent on ${spec.node} exited (${agent.exited.code ?? agent.exited.signal}):\n${tail(agent.log())}`);
    return exec('ip', ['netns', 'exec', spec.netns, process.execPath, SAMPLE_APP, 'get', 'http://127.0.0.1:15021/healthz/ready']).then(() => true, () => undefined);
  });
  return agent;
}
