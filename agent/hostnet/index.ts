/**
 * Host-network mode's capture rules: rendering them for a spec, installing them in the agent's
 * own netns (both families) with a record under --state-dir, checking drift, removing them.
 */
export { renderHostRules, canonicalCidr, exemptInboundPorts, SSH_PORT, HOST_CHAINS, type HostCaptureSpec } from './rules.js';
export { installHostRules, checkHostRules, removeHostRules, readHostRulesRecord, recordPath, HostRulesError, type HostRulesRecord } from './install.js';
