import { CniCode, CniError } from '../errors.js';
import { checkInpodRules, checkProbeSnat } from '../../agent/capture/index.js';
import { agentFailure, podOf, redirectOptions, type CommandContext } from './context.js';

/** CHECK: an enrolled pod must still have every rule, the routing and its registration. */
export async function check(ctx: CommandContext): Promise<void> {
  const pod = podOf(ctx);
  if (!pod) return;
  const enrollment = await ctx.agent.enrollment(pod.namespace, pod.name).catch((err: unknown) => {
    throw agentFailure(err, ctx, 'cannot check the pod');
  });
  if (!enrollment.enrolled) return;
  const ips = ctx.conf.prevResult?.ips ?? [];
  if (!pod.uid) throw new CniError(CniCode.InvalidEnvironment, 'K8S_POD_UID missing from CNI_ARGS', 'needed to look up the registration');
  const problems = await checkInpodRules(ctx.env.netns, redirectOptions(ctx.conf, ips)).catch((err: Error) => [err.message]);
  if (ctx.conf.hostProbeSnat) {
    problems.push(...await checkProbeSnat(ips, pod.uid, { v4: ctx.conf.probeAddress, v6: ctx.conf.probeAddressV6 }).catch((err: Error) => [err.message]));
  }
  if (problems.length > 0) {
    throw new CniError(CniCode.RulesMissing, 'redirection rules are missing or changed', problems.join('; '));
  }
  const registered = await ctx.agent.registration(pod.uid).catch((err: unknown) => { throw agentFailure(err, ctx, 'cannot check the pod'); });
  if (!registered) {
    throw new CniError(CniCode.RegistrationMissing, 'the meshnode agent has no registration for this pod',
      `pod ${pod.namespace}/${pod.name} (uid ${pod.uid}) is not served by the agent; recreate the pod sandbox`);
  }
}
