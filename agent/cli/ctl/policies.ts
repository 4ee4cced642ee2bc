import type { PolicyRow } from '../../admin/views.js';
import { ctlFlagsUsage } from './flags.js';
import { filterUsage, listCommand } from './list.js';

export const usage = `usage: meshnode ctl policies [-n NS] [--admin HOST:PORT] [-o table|json|yaml]

Lists the L4 authorization policies a running agent enforces: AuthorizationPolicies and the
policies derived from PeerAuthentications, with their scope, action and rule count.

${filterUsage(['namespace'])}
${ctlFlagsUsage}`;

export const run = listCommand<PolicyRow>({
  command: 'ctl policies', path: '/policies', filters: ['namespace'], none: 'No policies found.',
  columns: [
    ['NAMESPACE', (p) => p.namespace], ['NAME', (p) => p.name], ['SCOPE', (p) => p.scope],
    ['ACTION', (p) => p.action + (p.dryRun ? ' (dry-run)' : '')], ['RULES', (p) => String(p.rules)], ['ORIGIN', (p) => p.origin],
  ],
});
