import { MESH_MARK as MESH_MARK_VALUE, MESH_MARK_MASK, POD_PORTS } from '../base/contracts/ports.js';
import { restoreText, type TableRules } from '../base/netfilter/ruleset.js';

export { restoreText, type TableRules };
/**
 * The in-pod redirection rules (istio-cni's, without the DNS capture rules: the agent runs
 * no DNS proxy on 15053, so the two DNS REDIRECTs and the raw-table conntrack zones are left out).
 *
 * Pure: renders the exact `iptables-restore` text. Every rule is written in the canonical form
 * `iptables-save` prints, so the same strings serve to apply (restore) and to verify (CHECK).
 */

const hex = (n: number) => `0x${n.toString(16)}`;
/** SO_MARK the agent puts on every socket it creates in a pod netns; never redirected. */
export const MESH_MARK = `${hex(MESH_MARK_VALUE)}/${hex(MESH_MARK_MASK)}`;
/** Connmark/fwmark for connections the agent opened to the local app (reply routing). */
export const TPROXY_MARK = '0x111/0xfff';
export const ROUTE_TABLE = '100';
export const RULE_PRIORITY = '32764';
const { outbound: OUTBOUND_PORT, inboundPlaintext: INBOUND_PLAINTEXT_PORT, inboundHbone: INBOUND_HBONE_PORT } = POD_PORTS;
/** Kubelet probes are SNATed to these on the host (deploy/) and exempted inside the pod. */
export const DEFAULT_PROBE_ADDRESS = '169.254.7.127';
export const DEFAULT_PROBE_ADDRESS_V6 = 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff';

export const CHAIN_PREROUTING = 'ISTIO_PRERT';
export const CHAIN_OUTPUT = 'ISTIO_OUTPUT';
/** filter-table chains that refuse IPv6 in a pod without an IPv6 address (see renderInpodRules). */
export const CHAIN_V6_INPUT = 'MESHNODE_INPUT';
export const CHAIN_V6_OUTPUT = 'MESHNODE_OUTPUT';
export const OUR_CHAINS = [CHAIN_PREROUTING, CHAIN_OUTPUT, CHAIN_V6_INPUT, CHAIN_V6_OUTPUT] as const;
export const RULE_TABLES = ['mangle', 'nat', 'filter'] as const;
export type RuleTable = (typeof RULE_TABLES)[number];

export interface InpodRuleOptions {
  /** The pod has an IPv6 address: IPv6 is captured like IPv4. Without one it is refused. */
  readonly ipv6: boolean;
  readonly probeAddress?: string;
  readonly probeAddressV6?: string;
}

/** Policy routing that delivers replies to the agent's transparent sockets locally. */
export interface InpodRouting {
  readonly family: 4 | 6;
  /** Arguments after `ip -<family> rule add|del`. */
  readonly rule: readonly string[];
  /** Arguments after `ip -<family> route replace|del`. */
  readonly route: readonly string[];
}

export interface RenderedFamily {
  readonly family: 4 | 6;
  readonly tables: readonly TableRules[];
}

export interface RenderedInpodRules {
  readonly iptables: string;
  readonly ip6tables: string;
  readonly routes: readonly InpodRouting[];
  readonly families: readonly RenderedFamily[];
}

function tablesFor(loopback: string, probe: string): TableRules[] {
  const chains = [CHAIN_PREROUTING, CHAIN_OUTPUT];
  const jumps = [`-A PREROUTING -j ${CHAIN_PREROUTING}`, `-A OUTPUT -j ${CHAIN_OUTPUT}`];
  return [
    {
      table: 'mangle', chains, jumps,
      rules: [
        `-A ${CHAIN_PREROUTING} -m mark --mark ${MESH_MARK} -j CONNMARK --set-xmark ${TPROXY_MARK}`,
        `-A ${CHAIN_OUTPUT} -m connmark --mark ${TPROXY_MARK} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff`,
      ],
    },
    {
      table: 'nat', chains, jumps,
      rules: [
        `-A ${CHAIN_PREROUTING} -s ${probe} -p tcp -m tcp -j ACCEPT`,
        `-A ${CHAIN_PREROUTING} ! -d ${loopback} -p tcp -m tcp ! --dport ${INBOUND_HBONE_PORT} -m mark ! --mark ${MESH_MARK} -j REDIRECT --to-ports ${INBOUND_PLAINTEXT_PORT}`,
        `-A ${CHAIN_OUTPUT} -d ${probe} -p tcp -m tcp -j ACCEPT`,
        `-A ${CHAIN_OUTPUT} -p tcp -m mark --mark ${TPROXY_MARK} -j ACCEPT`,
        `-A ${CHAIN_OUTPUT} ! -d ${loopback} -o lo -j ACCEPT`,
        `-A ${CHAIN_OUTPUT} ! -d ${loopback} -p tcp -m mark ! --mark ${MESH_MARK} -j REDIRECT --to-ports ${OUTBOUND_PORT}`,
      ],
    },
  ];
}

/**
 * IPv6 for a pod that has no IPv6 address. Every pod interface still has an fe80:: link-local
 * address, so without rules an app listening on `::` is reachable from any neighbour on the
 * bridge in plaintext, and the app can reach theirs, both past capture. The agent cannot serve
 * link-local (no scope on the original destination, no mesh identity for it), so everything but
 * loopback is dropped both ways: inbound silently; outbound TCP is answered with a reset (the app
 * fails at once with ECONNREFUSED rather than after minutes of SYN retries), the rest dropped.
 */
function refuseV6Tables(): TableRules[] {
  return [{
    table: 'filter', chains: [CHAIN_V6_INPUT, CHAIN_V6_OUTPUT],
    jumps: [`-A INPUT -j ${CHAIN_V6_INPUT}`, `-A OUTPUT -j ${CHAIN_V6_OUTPUT}`],
    rules: [
      `-A ${CHAIN_V6_INPUT} -i lo -j ACCEPT`,
      `-A ${CHAIN_V6_INPUT} -j DROP`,
      `-A ${CHAIN_V6_OUTPUT} -o lo -j ACCEPT`,
      `-A ${CHAIN_V6_OUTPUT} -p tcp -j REJECT --reject-with tcp-reset`,
      `-A ${CHAIN_V6_OUTPUT} -j DROP`,
    ],
  }];
}

function routing(family: 4 | 6): InpodRouting {
  return {
    family,
    rule: ['fwmark', TPROXY_MARK, 'pref', RULE_PRIORITY, 'lookup', ROUTE_TABLE],
    route: ['local', family === 4 ? '0.0.0.0/0' : '::/0', 'dev', 'lo', 'table', ROUTE_TABLE],
  };
}

/** IPv4 is always captured; IPv6 is captured when the pod has an IPv6 address, refused otherwise. */
export function renderInpodRules(opts: InpodRuleOptions): RenderedInpodRules {
  const v4: RenderedFamily = { family: 4, tables: tablesFor('127.0.0.1/32', `${opts.probeAddress ?? DEFAULT_PROBE_ADDRESS}/32`) };
  if (!opts.ipv6) {
    const refused: RenderedFamily = { family: 6, tables: refuseV6Tables() };
    return { iptables: restoreText(v4.tables), ip6tables: restoreText(refused.tables), routes: [routing(4)], families: [v4, refused] };
  }
  const v6: RenderedFamily = { family: 6, tables: tablesFor('::1/128', `${opts.probeAddressV6 ?? DEFAULT_PROBE_ADDRESS_V6}/128`) };
  return {
    iptables: restoreText(v4.tables),
    ip6tables: restoreText(v6.tables),
    routes: [routing(4), routing(6)],
    families: [v4, v6],
  };
}
