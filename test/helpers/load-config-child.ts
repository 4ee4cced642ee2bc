import { formatProblem } from '../../agent/config/problems.js';
import { loadMeshConfig } from '../../agent/model/load.js';

/**
 * `node load-config-child.js PATH`: loads a mesh config with the agent's own loader in a process of
 * its own and prints `{maxRssMb, errors, warnings}` — the peak memory of the load, measured
 * where nothing else the test runner holds is counted.
 */
const result = await loadMeshConfig(process.argv[2]!, { trustDomain: 'cluster.local', rootNamespace: 'istio-system' });
const errors = result.problems.filter((p) => p.severity === 'error').map(formatProblem);
process.stdout.write(JSON.stringify({
  maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  errors: errors.slice(0, 5),
  warnings: result.problems.length - errors.length,
}) + '\n');
