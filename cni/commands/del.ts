import { releasePod } from '../../agent/capture/index.js';
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
  // Without a uid there are no probe SNAT rules to find; without a netns no in-pod rules.
  const release = { uid: pod.uid ?? '', netns: ctx.env.netns };
  await releasePod(release, { hostProbeSnat: ctx.conf.hostProbeSnat && pod.uid !== undefined }).catch((err: unknown) => log.warn('could not remove the capture rules', { err }));
  log.info('pod released');
}
