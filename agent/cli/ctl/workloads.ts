import type { WorkloadRow } from '../../admin/views.js';
import { ctlFlagsUsage } from './flags.js';
import { filterUsage, listCommand } from './list.js';

export const usage = `usage: meshnode ctl workloads [-n NS] [--node NODE] [--workload NAME] [--admin HOST:PORT] [-o table|json|yaml]

Lists the workloads (Pods and WorkloadEntries) a running agent knows, from its live mesh state.

${filterUsage(['namespace', 'node', 'workload'])}
${ctlFlagsUsage}`;

export const run = listCommand<WorkloadRow>({
  command: 'ctl workloads', path: '/workloads', filters: ['namespace', 'node', 'workload'], none: 'No workloads found.',
  columns: [
    ['NAMESPACE', (w) => w.namespace], ['NAME', (w) => w.name], ['ADDRESS', (w) => w.addresses.join(',')],
    ['NODE', (w) => w.node], ['PROTOCOL', (w) => w.protocol], ['STATUS', (w) => w.status],
    ['CANONICAL', (w) => `${w.canonicalService}/${w.canonicalRevision}`], ['IDENTITY', (w) => w.identity],
  ],
});
