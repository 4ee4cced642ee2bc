import type { ServiceRow } from '../../admin/views.js';
import { ctlFlagsUsage } from './flags.js';
import { filterUsage, listCommand } from './list.js';

export const usage = `usage: meshnode ctl services [-n NS] [--admin HOST:PORT] [-o table|json|yaml]

Lists the services (Services and ServiceEntry hosts) a running agent knows, with their virtual
IPs, ports and how many endpoints back them.

${filterUsage(['namespace'])}
${ctlFlagsUsage}`;

export const run = listCommand<ServiceRow>({
  command: 'ctl services', path: '/services', filters: ['namespace'], none: 'No services found.',
  columns: [
    ['NAMESPACE', (s) => s.namespace], ['NAME', (s) => s.name], ['HOSTNAME', (s) => s.hostname],
    ['VIPS', (s) => s.vips.join(',')], ['PORTS', (s) => s.ports.join(',')], ['ENDPOINTS', (s) => String(s.endpoints)],
  ],
});
