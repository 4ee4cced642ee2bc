/** What the engine knows about one inbound connection: the attributes ztunnel authorizes on. */
export interface ConnectionAttributes {
  /** Peer SPIFFE id from mTLS; absent = plaintext. */
  readonly identity?: string;
  /** Source and destination addresses; IPv4-mapped IPv6 is treated as IPv4. */
  readonly srcIp: string;
  readonly dstIp: string;
  /** Destination (target) port of the workload. */
  readonly dstPort: number;
}

export type DecisionCode = 'deny-matched' | 'peer-authn-strict' | 'no-allow-policies' | 'allow-matched' | 'no-allow-matched';

export interface Decision {
  readonly allowed: boolean;
  readonly code: DecisionCode;
  /** `ns/name` of the deciding policy; null when no policy decided. */
  readonly policy: string | null;
  /** One line an operator can act on. */
  readonly reason: string;
  /** Dry-run policies that apply: evaluated and reported, never deciding. */
  readonly dryRun: { policy: string; matched: boolean }[];
}
