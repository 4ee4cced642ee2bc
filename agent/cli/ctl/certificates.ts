import type { CertStatus } from '../../identity/index.js';
import { ctlFlagsUsage } from './flags.js';
import { filterUsage, listCommand } from './list.js';

export const usage = `usage: meshnode ctl certificates [-n NS] [--admin HOST:PORT] [-o table|json|yaml]

Lists the certificates a running agent holds, one per identity its workloads need: state
(available, initializing, unavailable), serial, expiry, next renewal and the last error.

${filterUsage(['namespace'])}
${ctlFlagsUsage}`;

export const run = listCommand<CertStatus>({
  command: 'ctl certificates', path: '/certificates', filters: ['namespace'], none: 'No certificates held.',
  columns: [
    ['IDENTITY', (c) => c.identity], ['STATE', (c) => c.state], ['SERIAL', (c) => c.serial ?? ''],
    ['NOT AFTER', (c) => c.notAfter ?? ''], ['NEXT REFRESH', (c) => c.nextRefresh ?? (c.fetching ? 'fetching' : '')],
    ['LAST ERROR', (c) => c.lastError ?? ''],
  ],
});
