import { AgentError } from '../agent-client.js';
import { CniCode, CniError } from '../errors.js';
import { refuseNodeNetns } from '../node-netns.js';
import { RedirectError, capturePod, releasePod, removeProbeSnat } from '../../agent/capture/index.js';
import { lastPublishedEnrollment } from '../published-enrollment.js';
import { agentFailure, captureOptions, passThrough, podOf, type CommandContext, type PodRef } from './context.js';

/**
 * The agent's verdict; while the agent is unreachable, the enrollment it last published decides
 * for pods of namespaces where nothing can be in the mesh, and every other pod fails (code 11).
 */
async function enrollmentOf(ctx: CommandContext, pod: PodRef): Promise<{ enrolled: boolean; reason: string; agentUp: boolean }> {
  try {
    return { ...await ctx.agent.enrollment(pod.namespace, pod.name), agentUp: true };
  } catch (err) {
    const published = err instanceof AgentError && err.kind === 'unreachable' ? lastPublishedEnrollment(ctx.conf.agentSocket, pod.namespace) : undefined;
    if (published?.inMesh === false) return { enrolled: false, reason: published.reason, agentUp: false };
    const why = published ? `; ${published.reason}` : '';
    throw agentFailure(err, ctx, `cannot decide whether the pod is in the mesh, so it is not started${why}`);
  }
}

/**
 * ADD: enrolled pods get the in-pod rules, then are registered with the agent (which answers only
 * once the pod's listeners are open). Fail closed: if either step fails the rules are removed and
 * ADD fails, so the runtime never starts an enrolled pod without capture. A pod left uncaptured is
 * reported to the agent, which captures it if it is enrolled later.
 */
export async function add(ctx: CommandContext): Promise<Record<string, unknown>> {
  const output = passThrough(ctx.conf);
  const pod = podOf(ctx);
  if (!pod) return output;
  const log = ctx.log.child('add', { namespace: pod.namespace, pod: pod.name });
  const enrollment = await enrollmentOf(ctx, pod);
  const ips = ctx.conf.prevResult?.ips ?? [];
  if (!enrollment.enrolled) {
    log.info('pod is not enrolled in the mesh; left untouched', { reason: enrollment.reason, agent: enrollment.agentUp ? 'answered' : 'unreachable' });
    if (enrollment.agentUp && pod.uid && ips.length > 0) {
      await ctx.agent.observe({ uid: pod.uid, namespace: pod.namespace, name: pod.name, netns: ctx.env.netns, ips, capture: captureOptions(ctx.conf) })
        .catch((err: unknown) => log.warn('could not report the uncaptured pod; a later enrollment captures it only after it restarts', { err }));
    }
    return output;
  }
  if (!pod.uid) {
    throw new CniError(CniCode.InvalidEnvironment, 'K8S_POD_UID missing from CNI_ARGS',
      'the agent registers pods by UID; the container runtime must pass K8S_POD_UID (containerd and CRI-O do)');
  }
  if (ips.length === 0) {
    throw new CniError(CniCode.NotChained, 'no pod IPs in prevResult',
      'meshnode-cni must be the last plugin of a conflist, after the plugin that gives the pod its IPs');
  }
  refuseNodeNetns(ctx.env.netns);
  const target = { uid: pod.uid, netns: ctx.env.netns, ips };
  const opts = captureOptions(ctx.conf);
  try {
    const { warnings } = await capturePod(target, opts);
    for (const w of warnings) log.warn('capture installed with a warning', { warning: w });
  } catch (err) {
    await ctx.agent.unregister(target.uid).catch((e: unknown) => log.error('unregistering the pod after a failure failed', { err: e }));
    const netns = err instanceof RedirectError && err.netnsMissing;
    throw new CniError(CniCode.RedirectFailed, netns ? `pod network namespace ${ctx.env.netns} does not exist` : 'cannot install the redirection rules',
      err instanceof Error ? err.message : String(err));
  }
  try {
    await ctx.agent.register({ uid: target.uid, namespace: pod.namespace, name: pod.name, netns: ctx.env.netns, ips, capture: opts });
  } catch (err) {
    // Leaves no registration the agent may have finished after this plugin stopped waiting, so
    // the agent never serves a pod ADD failed for.
    await ctx.agent.unregister(target.uid).catch((e: unknown) => log.error('unregistering the pod after a failure failed', { err: e }));
    // The in-pod rules of a namespace another pod is registered with are that pod's capture: keep
    // them; only this pod's own probe SNAT goes.
    const netnsInUse = err instanceof AgentError && err.reason === 'netns-in-use';
    const removal = netnsInUse ? (opts.hostProbeSnat ? removeProbeSnat(target.uid) : Promise.resolve()) : releasePod(target, opts);
    await removal.catch((e: Error) => log.error('removing the capture rules after a failure failed', { err: e }));
    throw agentFailure(err, ctx, 'the pod could not be registered, so it is not started');
  }
  log.info('pod captured', { uid: pod.uid, ips });
  return output;
}
