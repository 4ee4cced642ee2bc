/**
 * Capture of a pod's traffic: the in-pod redirection rules and policy routing, and the host probe
 * SNAT. One implementation, run by `meshnode-cni` at ADD and by the agent when it enrols or
 * releases a running pod.
 */
export { RedirectError, applyInpodRules, bypassInpodRules, checkInpodRules, removeInpodRules } from './apply.js';
export { checkProbeSnat, removeProbeSnat } from './host-probe.js';
export { bypassPod, capturePod, releasePod, type CaptureOptions, type CaptureTarget } from './pod-capture.js';
export { DEFAULT_PROBE_ADDRESS, DEFAULT_PROBE_ADDRESS_V6, type InpodRuleOptions } from './rules.js';
export { toolEnv } from './exec.js';
