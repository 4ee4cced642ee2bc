import { parseFlags } from './flags.js';

export const usage = `usage: meshnode demo [--keep] [--non-interactive]

Builds a two-node mesh on this machine in network namespaces and shows it working, step by step:
pods are created as a container runtime would (Debian's CNI plugins chained with meshnode-cni),
the built-in CA and one agent per node start, and sample servers run in the pods. It then shows an
allowed cross-node call and the identity the server side's agent authorized, a call denied by an
AuthorizationPolicy, plaintext from outside the mesh refused under STRICT mTLS, the certificates
in use and a few metrics. Everything it created is removed on exit or Ctrl-C.

Needs root and the Debian packages iproute2, iptables, util-linux and containernetworking-plugins.

  --keep              leave the mesh running after the steps and print commands to try;
                      Ctrl-C removes it
  --non-interactive   do not wait for Enter between steps (CI); exit 0 only if every step
                      behaved as shown

Exit codes: 0 every step behaved as shown, 1 a step or the set-up failed, 2 bad flags, 130 interrupted.`;

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { keep: { type: 'boolean', default: false }, 'non-interactive': { type: 'boolean', default: false } });
  const { runDemo } = await import('../demo/run.js');
  return runDemo({ keep: values.keep, interactive: !values['non-interactive'] && process.stdin.isTTY === true });
}
