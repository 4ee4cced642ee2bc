import { MeshnodeError } from '../agent/base/errors.js';

/**
 * CNI error results (CNI spec "Error"): printed as JSON on stdout with a non-zero exit. Codes
 * 1-99 are the spec's; 100 and up are meshnode-cni's own, listed in docs/cni.md.
 */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  /** The in-pod redirection rules could not be installed. */
  RedirectFailed: 100,
  /** The agent refused to register the pod (not enrolled after all, netns missing, bad request). */
  RegistrationRefused: 101,
  /** CHECK: the redirection rules in the pod netns are missing or changed. */
  RulesMissing: 102,
  /** CHECK: the agent has no registration for the pod. */
  RegistrationMissing: 103,
  /** ADD for an enrolled pod without the network plugin's result (no pod IPs). */
  NotChained: 104,
  /** ADD whose CNI_NETNS is the node's own network namespace (the plugin's or PID 1's). */
  NodeNetns: 105,
  Internal: 999,
} as const;

export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends MeshnodeError {
  readonly code = 'ERR_CNI';
  constructor(readonly cniCode: CniCodeValue, message: string, readonly details = '') {
    super(message);
  }
}

export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details: string;
}

export function errorResult(err: unknown, cniVersion: string): CniErrorJson {
  if (err instanceof CniError) return { cniVersion, code: err.cniCode, msg: err.message, details: err.details };
  const message = err instanceof Error ? err.message : String(err);
  return { cniVersion, code: CniCode.Internal, msg: 'meshnode-cni internal error', details: message };
}
