export { checkUsage as usage, check as run } from './host-rules.js';
