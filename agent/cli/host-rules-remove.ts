export { removeUsage as usage, remove as run } from './host-rules.js';
