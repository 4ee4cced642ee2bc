/** The L4 authorization engine: compile once per config, decide per connection without I/O. */
export { authorize } from './authorize.js';
export { compilePolicies, CompiledPolicies, type ApplicablePolicies, type CompiledPolicy } from './compile.js';
export type { ConnectionAttributes, Decision, DecisionCode } from './types.js';
