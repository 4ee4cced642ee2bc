import { AgentError } from '../agent-client.js';
import { CniCode, CniError } from '../errors.js';
import { refuseNodeNetns } from '../node-netns.js';
import { RedirectError, applyInpodRules, removeInpodRules } from '../redirect/apply.js';
import { addProbeSnat, removeProbeSnat } from '../redirect/host-probe.js';
import { agentFailure, passThrough, podOf, redirectOptions, type CommandContext } from './context.js';

/**
 * ADD: enrolled pods get the in-pod rules, then are registered with the agent (which answers only
 * once the pod's listeners are open). Fail closed: if either step fails the rules are removed and
 * ADD fails, so the runtime never starts an enrolled pod without capture.
 */
export async function add(ctx: CommandContext): Promise<Record<string, unknown>> {
  const output = passThrough(ctx.conf);
  const pod = podOf(ctx);
  if (!pod) return output;
  const log = ctx.log.child('add', { namespace: pod.namespace, pod: pod.name });
  const enrollment = await ctx.agent.enrollment(pod.namespace, pod.name).catch((err: unknown) => {
    throw agentFailure(err, ctx, 'cannot decide whether the pod is in the mesh, so it is not started');
  });
  if (!enrollment.enrolled) {
    log.info('pod is not enrolled in the mesh; left untouched', { reason: enrollment.reason });
    return output;
  }
  if (!pod.uid) {
    throw new CniError(CniCode.InvalidEnvironment, 'K8S_POD_UID missing from CNI_ARGS',
      'the agent registers pods by UID; the container runtime must pass K8S_POD_UID (containerd and CRI-O do)');
  }
  const ips = ctx.conf.prevResult?.ips ?? [];
  if (ips.length === 0) {
    throw new CniError(CniCode.NotChained, 'no pod IPs in prevResult',
      'meshnode-cni must be the last plugin of a conflist, after the plugin that gives the pod its IPs');
  }
  refuseNodeNetns(ctx.env.netns);
  const uid = pod.uid;
  // Leaves neither rules nor a registration, so the agent never serves a pod ADD failed for; the
  // registration may be one the agent finished after this plugin stopped waiting for it.
  const undo = async (netnsInUse = false) => {
    await ctx.agent.unregister(uid).catch((e: unknown) => log.error('unregistering the pod after a failure failed', { err: e }));
    // The rules of a namespace another pod is registered with are that pod's capture: keep them.
    if (!netnsInUse) await removeInpodRules(ctx.env.netns).catch((e: Error) => log.error('removing the in-pod rules after a failure failed', { err: e }));
    if (ctx.conf.hostProbeSnat) await removeProbeSnat(uid).catch((e: Error) => log.error('removing the probe SNAT rules after a failure failed', { err: e }));
  };
  try {
    await applyInpodRules(ctx.env.netns, redirectOptions(ctx.conf, ips));
    if (ctx.conf.hostProbeSnat) await addProbeSnat(ips, uid, { v4: ctx.conf.probeAddress, v6: ctx.conf.probeAddressV6 });
  } catch (err) {
    await undo();
    const netns = err instanceof RedirectError && err.netnsMissing;
    throw new CniError(CniCode.RedirectFailed, netns ? `pod network namespace ${ctx.env.netns} does not exist` : 'cannot install the redirection rules',
      err instanceof Error ? err.message : String(err));
  }
  try {
    await ctx.agent.register({ uid, namespace: pod.namespace, name: pod.name, netns: ctx.env.netns, ips });
  } catch (err) {
    await undo(err instanceof AgentError && err.reason === 'netns-in-use');
    throw agentFailure(err, ctx, 'the pod could not be registered, so it is not started');
  }
  log.info('pod captured', { uid: pod.uid, ips });
  return output;
}
