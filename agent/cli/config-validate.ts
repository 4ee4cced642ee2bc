import { access, constants } from 'node:fs/promises';
import { formatProblem, type Problem } from '../config/problems.js';
import { formatWarningGroup, groupWarnings } from '../config/warning-summary.js';
import { loadMeshConfig } from '../model/load.js';
import { parseFlags, parseTrustDomain, requireFlag } from './flags.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: meshnode config validate --config PATH [--trust-domain TD] [--root-namespace NS]
                                [--domain-suffix SUFFIX] [-o text|json]

Reads PATH (a YAML file, or a directory whose *.yaml/*.yml files are read in name order) and
prints every problem, one per line: file:line (document N) Kind ns/name: severity: field: message.
A warning repeated with the same field and message is one line ending "(and N more: places)".
Exit status: 0 no errors (warnings allowed), 1 the config has errors, 2 bad flags or unreadable PATH.

  --config PATH           mesh config file or directory (required)
  --trust-domain TD       trust domain of workload identities (default cluster.local)
  --root-namespace NS     namespace whose policies apply mesh-wide (default istio-system)
  --domain-suffix SUFFIX  DNS suffix of Service hostnames (default cluster.local)
  -o, --output FORMAT     text (default) or json: one object {valid, problems, counts}`;

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    config: { type: 'string' },
    'trust-domain': { type: 'string', default: 'cluster.local' },
    'root-namespace': { type: 'string', default: 'istio-system' },
    'domain-suffix': { type: 'string', default: 'cluster.local' },
    output: { type: 'string', short: 'o', default: 'text' },
  });
  const path = requireFlag(flags.config, 'config');
  if (flags.output !== 'text' && flags.output !== 'json') throw new UsageError(`-o: "${flags.output}" is not text or json`);
  const trustDomain = parseTrustDomain(flags['trust-domain'], 'trust-domain');
  await access(path, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--config: cannot read "${path}": ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  const result = await loadMeshConfig(path, {
    trustDomain, rootNamespace: flags['root-namespace'], domainSuffix: flags['domain-suffix'],
  });
  const errors = result.problems.filter((p) => p.severity === 'error').length;
  const counts = { ...result.counts, errors, warnings: result.problems.length - errors };
  if (flags.output === 'json') {
    const out = { valid: errors === 0, problems: result.problems.map(problemJson), counts };
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    const lines = [...result.problems.filter((p) => p.severity === 'error').map(formatProblem), ...groupWarnings(result.problems).map(formatWarningGroup)];
    lines.push(`${counts.workloads} workloads, ${counts.services} services, ${counts.policies} policies; ${errors} errors, ${counts.warnings} warnings`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return errors === 0 ? 0 : 1;
}

function problemJson(p: Problem): Record<string, string | number> {
  const { file, index, line, kind, namespace, name } = p.location;
  return { severity: p.severity, file, document: index, line, kind, namespace, name, path: p.path, message: p.message };
}
