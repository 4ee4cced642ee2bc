import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { missingTools } from '../helpers/privileged.js';
import { repoRoot } from '../helpers/paths.js';

/**
 * The monitoring kit in deploy/monitoring: the alerting rules pass Prometheus' own checker and
 * their unit tests, every alert has a unit test, and every dashboard query is valid PromQL over
 * metrics the agent exports (the catalogue metrics/README.md).
 */
const dir = join(repoRoot, 'deploy', 'monitoring');
const rulesFile = join(dir, 'meshnode-alerts.yaml');
const catalogue = readFileSync(join(repoRoot, 'metrics', 'README.md'), 'utf8');
const promtoolMissing = missingTools(['promtool']).length > 0;
const withPromtool = promtoolMissing ? test.skip : test;
const skipNote = promtoolMissing ? ' [skipped: promtool not installed, apt package prometheus]' : '';

function promtool(args: string[], cwd = dir) {
  return spawnSync('promtool', args, { cwd, encoding: 'utf8' });
}

interface Rules { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] }

const rules = parse(readFileSync(rulesFile, 'utf8')) as Rules;
const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => a !== undefined));

/** Metric names a PromQL expression reads (the agent's own families, and `up`). */
function metricsIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(?:istio|meshnode)_[a-z0-9_]+\b/g)].map((m) => m[0]))];
}

withPromtool(`promtool check rules accepts the alerting rules${skipNote}`, (t) => {
  const check = promtool(['check', 'rules', rulesFile]);
  t.is(check.status, 0, check.stdout + check.stderr);
  t.regex(check.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
});

withPromtool(`promtool test rules passes the rules' unit tests${skipNote}`, (t) => {
  const run = promtool(['test', 'rules', 'meshnode-alerts.test.yaml']);
  t.is(run.status, 0, run.stdout + run.stderr);
  t.regex(run.stdout, /SUCCESS/);
});

test('the rules cover the issue\'s alerts, every alert has a unit test, and they read catalogued metrics', (t) => {
  for (const wanted of ['MeshnodeCertificateExpiringSoon', 'MeshnodeCsrFailures', 'MeshnodeConfigRejected', 'MeshnodeXdsDisconnected', 'MeshnodeDenialsSpiking', 'MeshnodeNotReady']) {
    t.true(alerts.includes(wanted), `${wanted} is defined`);
  }
  const tests = parse(readFileSync(join(dir, 'meshnode-alerts.test.yaml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const firing = new Set(tests.tests.flatMap((c) => c.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  t.deepEqual(alerts.filter((a) => !firing.has(a)), [], 'alerts without a test that makes them fire');
  const unknown = rules.groups.flatMap((g) => g.rules.flatMap((r) => metricsIn(r.expr))).filter((m) => !catalogue.includes(m));
  t.deepEqual(unknown, [], 'metrics not in metrics/README.md');
});

interface Panel { id: number; type: string; title: string; targets?: { expr: string }[]; panels?: Panel[] }
const dashboard = JSON.parse(readFileSync(join(dir, 'meshnode-dashboard.json'), 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string }[] } };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const exprs = panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: p.title, expr: target.expr })));

test('the Grafana dashboard has unique panel ids, a query in every data panel, and reads only catalogued metrics', (t) => {
  t.is(dashboard.uid, 'meshnode-overview');
  const ids = panels.map((p) => p.id);
  t.is(new Set(ids).size, ids.length, 'panel ids are unique');
  t.deepEqual(panels.filter((p) => p.type !== 'row' && (p.targets ?? []).length === 0).map((p) => p.title), []);
  const variables = new Set(dashboard.templating.list.map((v) => v.name));
  for (const { panel, expr } of exprs) {
    for (const m of expr.matchAll(/\$(\w+)/g)) t.true(m[1] === '__rate_interval' || variables.has(m[1]!), `${panel}: $${m[1]} is a dashboard variable`);
    const unknown = metricsIn(expr).filter((name) => !catalogue.includes(name) && !/^meshnode_(process|nodejs)_/.test(name));
    t.deepEqual(unknown, [], `${panel}: metrics not in metrics/README.md`);
  }
  t.true(exprs.some((e) => e.expr.includes('source_canonical_service')), 'traffic is shown by canonical service');
});

withPromtool(`every dashboard query parses as PromQL (checked by promtool as recording rules)${skipNote}`, (t) => {
  const work = mkdtempSync(join(tmpdir(), 'mn-dash-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  // Grafana fills in its variables before Prometheus sees a query; do the same with sample values.
  const concrete = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replace(/\$\w+/g, '.*');
  const file = join(work, 'dashboard-queries.yaml');
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard:query_${i}`, expr: concrete(e.expr) })) }] }));
  const check = promtool(['check', 'rules', file], work);
  t.is(check.status, 0, check.stdout + check.stderr);
  t.regex(check.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
});
