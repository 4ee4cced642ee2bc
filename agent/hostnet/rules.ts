import { POD_PORTS } from '../base/contracts/ports.js';
import { bytesToIp, parseCidr } from '../base/ip.js';
import type { TableRules } from '../base/netfilter/ruleset.js';

/**
 * The capture rules of host-network mode (a VM or bare-metal host), in the host netns. Pure:
 * renders the ruleset for one capture spec, in the canonical `iptables-save` form.
 *
 * Unlike istio-iptables on a VM, there is no rule that sends the proxy user's own loopback
 * traffic to the inbound port (the Envoy hairpin): the agent connects to the local application
 * at the VM's own address after terminating HBONE, which Linux routes over `lo`, and such a rule
 * would loop that connection back into the agent's own inbound listener.
 */

export const CHAIN_HOST_INBOUND = 'MESHNODE_HOST_INBOUND';
export const CHAIN_HOST_OUTPUT = 'MESHNODE_HOST_OUTPUT';
export const HOST_CHAINS = [CHAIN_HOST_INBOUND, CHAIN_HOST_OUTPUT] as const;
export const HOST_TABLES = ['nat'] as const;

/** SSH: never captured, so no rule can lock an operator out of the host. */
export const SSH_PORT = 22;

export interface HostCaptureSpec {
  /** Owner of the agent's own sockets (CA, xDS, HBONE client, upstream to the app): never captured. */
  readonly agentUid: number;
  /** Inbound TCP ports redirected to 15006; `*` = every port not excluded. */
  readonly inboundPorts: readonly number[] | '*';
  /** Never captured inbound, on top of SSH, HBONE and the agent's own ports. */
  readonly excludeInboundPorts: readonly number[];
  /** The agent's listening ports (admin, metrics, readiness): never captured inbound. */
  readonly agentPorts: readonly number[];
  /** Outbound destinations (CIDRs) redirected to 15001; `*` = every non-local destination. */
  readonly outbound: readonly string[] | '*';
  /** Outbound destinations never captured. */
  readonly excludeOutbound: readonly string[];
}

export interface RenderedHostFamily {
  readonly family: 4 | 6;
  readonly tables: readonly TableRules[];
}

/** A CIDR in the form iptables-save prints it (masked network, prefix always given); its family. */
export function canonicalCidr(text: string): { cidr: string; family: 4 | 6 } | string {
  const parsed = parseCidr(text);
  if (typeof parsed === 'string') return parsed;
  return { cidr: `${bytesToIp(parsed.bytes)}/${parsed.prefixLength}`, family: parsed.bytes.length === 4 ? 4 : 6 };
}

/** The ports never captured inbound, sorted and without repeats. */
export function exemptInboundPorts(spec: HostCaptureSpec): number[] {
  return [...new Set([POD_PORTS.inboundHbone, SSH_PORT, ...spec.agentPorts, ...spec.excludeInboundPorts])].sort((a, b) => a - b);
}

function cidrsOf(list: readonly string[], family: 4 | 6): string[] {
  const out: string[] = [];
  for (const text of list) {
    const c = canonicalCidr(text);
    if (typeof c === 'string') throw new TypeError(c);
    if (c.family === family && !out.includes(c.cidr)) out.push(c.cidr);
  }
  return out;
}

function inboundRules(spec: HostCaptureSpec): string[] {
  const chain = `-A ${CHAIN_HOST_INBOUND}`;
  const exempt = exemptInboundPorts(spec);
  const rules = exempt.map((p) => `${chain} -p tcp -m tcp --dport ${p} -j RETURN`);
  // Traffic the host forwards (containers, a router role) is not addressed to its workloads.
  rules.push(`${chain} -m addrtype ! --dst-type LOCAL -j RETURN`);
  const redirect = `-j REDIRECT --to-ports ${POD_PORTS.inboundPlaintext}`;
  if (spec.inboundPorts === '*') rules.push(`${chain} -p tcp ${redirect}`);
  else for (const p of spec.inboundPorts) if (!exempt.includes(p)) rules.push(`${chain} -p tcp -m tcp --dport ${p} ${redirect}`);
  return rules;
}

function outboundRules(spec: HostCaptureSpec, family: 4 | 6): string[] {
  const chain = `-A ${CHAIN_HOST_OUTPUT}`;
  const rules = [
    // The host's own addresses: an app calling itself, and the agent's upstream to the app.
    `${chain} -o lo -j RETURN`,
    `${chain} -m owner --uid-owner ${spec.agentUid} -j RETURN`,
    ...cidrsOf(spec.excludeOutbound, family).map((c) => `${chain} -d ${c} -j RETURN`),
  ];
  const redirect = `-p tcp -j REDIRECT --to-ports ${POD_PORTS.outbound}`;
  if (spec.outbound === '*') rules.push(`${chain} ${redirect}`);
  else for (const c of cidrsOf(spec.outbound, family)) rules.push(`${chain} -d ${c} ${redirect}`);
  return rules;
}

/** Both families: IPv4 and IPv6 are captured alike, each with its own destinations. */
export function renderHostRules(spec: HostCaptureSpec): RenderedHostFamily[] {
  return ([4, 6] as const).map((family) => ({
    family,
    tables: [{
      table: 'nat',
      chains: [...HOST_CHAINS],
      jumps: [`-A PREROUTING -p tcp -j ${CHAIN_HOST_INBOUND}`, `-A OUTPUT -p tcp -j ${CHAIN_HOST_OUTPUT}`],
      rules: [...inboundRules(spec), ...outboundRules(spec, family)],
    }],
  }));
}
