import type { OpenConnection } from '../../proxy/pod-proxies.js';
import { ctlFlagsUsage } from './flags.js';
import { filterUsage, listCommand } from './list.js';
import { age } from './output.js';

export const usage = `usage: meshnode ctl connections [-n NS] [--workload NAME] [--admin HOST:PORT] [-o table|json|yaml]

Lists the connections a running agent is proxying now, newest first: where it was captured (pod NS/NAME,
or host NODE in host mode), direction, source and
destination (address, workload, identity), bytes so far and age. The JSON and YAML use the
access log's field names (src.workload, dst.identity, bytes_sent, ...).

${filterUsage(['namespace', 'workload'])}
${ctlFlagsUsage}`;

const party = (c: OpenConnection, side: 'src' | 'dst') => {
  const workload = c[`${side}.workload`] === undefined ? '' : `${String(c[`${side}.namespace`])}/${String(c[`${side}.workload`])}`;
  return workload || String(c[`${side}.addr`]);
};

export const run = listCommand<OpenConnection>({
  command: 'ctl connections', path: '/connections', filters: ['namespace', 'workload'], none: 'No open connections.',
  columns: [
    ['CAPTURED AT', (c) => c.target], ['DIRECTION', (c) => String(c.direction)],
    ['SOURCE', (c) => party(c, 'src')], ['SOURCE IDENTITY', (c) => String(c['src.identity'] ?? '')],
    ['DESTINATION', (c) => party(c, 'dst')], ['DESTINATION IDENTITY', (c) => String(c['dst.identity'] ?? '')],
    ['SENT', (c) => String(c.bytes_sent)], ['RECEIVED', (c) => String(c.bytes_recv)], ['AGE', (c) => age(c.ageMs)],
  ],
});
