import { removeInpodRules } from '../redirect/apply.js';
import { removeProbeSnat } from '../redirect/host-probe.js';
import { podOf, type CommandContext } from './context.js';

/**
 * DEL: best effort and idempotent (CNI spec). Unregistering and removing rules are independent
 * steps: one failing never skips the other (istio#51713), and neither fails the DEL — the netns is
 * being torn down, and the agent forgets registrations whose netns is gone.
 */
export async function del(ctx: CommandContext): Promise<void> {
  const pod = podOf(ctx);
  if (!pod) return;
  const log = ctx.log.child('del', { namespace: pod.namespace, pod: pod.name, uid: pod.uid });
  if (pod.uid) {
    await ctx.agent.unregister(pod.uid).catch((err: unknown) => log.warn('could not unregister the pod; the agent drops it when its netns disappears', { err }));
  }
  if (pod.uid && ctx.conf.hostProbeSnat) {
    await removeProbeSnat(pod.uid).catch((err: unknown) => log.warn('could not remove the host probe SNAT rules', { err }));
  }
  if (ctx.env.netns) {
    await removeInpodRules(ctx.env.netns).catch((err: unknown) => log.warn('could not remove the in-pod rules', { err }));
  }
  log.info('pod released');
}
