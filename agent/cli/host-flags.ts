import { canonicalCidr } from '../hostnet/index.js';
import type { HostModeOptions } from '../host/index.js';
import { parsePort } from './flags.js';
import { UsageError } from './usage-error.js';

/** `meshnode agent --host-mode` and its capture flags, merged into the agent's parseArgs options. */
export const hostFlagSpecs = {
  'host-mode': { type: 'boolean', default: false },
  'inbound-ports': { type: 'string' },
  'exclude-inbound-ports': { type: 'string' },
  'outbound-cidrs': { type: 'string' },
  'exclude-outbound-cidrs': { type: 'string' },
} as const;

export const hostFlagsUsage = `  --host-mode              serve this node's WorkloadEntries from the host network (a VM, bare metal):
                           HBONE on 15008, capture rules in the host netns; run as a dedicated user
  --inbound-ports LIST|*   inbound ports to capture (default: the WorkloadEntries' ports)
  --exclude-inbound-ports LIST  never captured inbound (22, 15008 and the agent's ports never are)
  --outbound-cidrs LIST|*  outbound destinations to capture (default: mesh workload and service addresses)
  --exclude-outbound-cidrs LIST  outbound destinations never captured`;

interface HostFlagValues {
  readonly 'host-mode'?: boolean | undefined;
  readonly 'inbound-ports'?: string | undefined;
  readonly 'exclude-inbound-ports'?: string | undefined;
  readonly 'outbound-cidrs'?: string | undefined;
  readonly 'exclude-outbound-cidrs'?: string | undefined;
}

function items(text: string, flag: string): string[] {
  const list = text.split(',').map((s) => s.trim());
  if (list.some((s) => s === '')) throw new UsageError(`--${flag}: "${text}" has an empty entry (a comma-separated list)`);
  return list;
}

function ports(text: string, flag: string): number[] {
  return [...new Set(items(text, flag).map((p) => parsePort(p, flag)))];
}

function cidrs(text: string, flag: string): string[] {
  return items(text, flag).map((c) => {
    const parsed = canonicalCidr(c);
    if (typeof parsed === 'string') throw new UsageError(`--${flag}: ${parsed}`);
    return parsed.cidr;
  });
}

/** HostModeOptions when --host-mode is given; the capture flags without it are a usage error. */
export function parseHostFlags(values: HostFlagValues): HostModeOptions | undefined {
  const given = (Object.keys(hostFlagSpecs) as (keyof HostFlagValues)[]).filter((k) => k !== 'host-mode' && values[k] !== undefined);
  if (!values['host-mode']) {
    if (given.length > 0) throw new UsageError(`--${given[0]} applies only with --host-mode`);
    return undefined;
  }
  const inbound = values['inbound-ports'];
  const outbound = values['outbound-cidrs'];
  const excludePorts = values['exclude-inbound-ports'];
  const excludeCidrs = values['exclude-outbound-cidrs'];
  return {
    ...(inbound === undefined ? {} : { inboundPorts: inbound === '*' ? '*' : ports(inbound, 'inbound-ports') }),
    excludeInboundPorts: excludePorts === undefined ? [] : ports(excludePorts, 'exclude-inbound-ports'),
    ...(outbound === undefined ? {} : { outboundCidrs: outbound === '*' ? '*' : cidrs(outbound, 'outbound-cidrs') }),
    excludeOutboundCidrs: excludeCidrs === undefined ? [] : cidrs(excludeCidrs, 'exclude-outbound-cidrs'),
  };
}
