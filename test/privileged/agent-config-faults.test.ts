import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { open, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { privilegedTest } from '../helpers/privileged.js';
import { agentArgs, httpCall, ready, startProcess, tempDir, until } from './agent-harness.js';
import { AGENT_TEST_MESH } from './agent-mesh.js';

// A real agent whose config file becomes a FIFO: reloads must fail and go on failing (not
// wedge), the metrics must say so, and SIGTERM must still end the process.

async function metricValue(port: number, series: string): Promise<number> {
  const body = (await httpCall({ port }, 'GET', '/metrics')).body;
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? -1 : Number(line.slice(series.length + 1));
}

async function agentWithFifoConfig(t: Parameters<Parameters<typeof privilegedTest>[1]>[0]) {
  const dir = await tempDir(t, 'mn-cfg-fifo-');
  const config = join(dir, 'mesh.yaml');
  await writeFile(config, AGENT_TEST_MESH);
  // No CA is needed: certificates are fetched lazily and readiness does not wait for them.
  const ca = { port: 9, rootFile: join(dir, 'no-root.pem'), tokenFile: join(dir, 'no-token') };
  const { args, ports } = await agentArgs(dir, ca, config);
  const agent = startProcess(t, args);
  await ready(ports.readiness);
  await unlink(config);
  execFileSync('mkfifo', [config]);
  // Were a read to block on the FIFO after all, a writer's open releases it so teardown can end.
  t.teardown(() => open(config, constants.O_WRONLY | constants.O_NONBLOCK).then((h) => h.close(), () => undefined));
  return { agent, ports };
}

const FAILURES = 'meshnode_config_reloads_total{result="failure"}';

privilegedTest('a config replaced by a FIFO fails every reload (watch and SIGHUP) without wedging, and SIGTERM exits', async (t) => {
  const { agent, ports } = await agentWithFifoConfig(t);
  await until(async () => await metricValue(ports.metrics, 'meshnode_config_last_reload_successful') === 0, 'the failed reload in the metric');
  const failures = await metricValue(ports.metrics, FAILURES);
  t.true(failures >= 1);
  t.true(agent.lines.some((l) => l.includes('keeping the last good config') && l.includes('is a FIFO (named pipe), not a regular file')));

  agent.child.kill('SIGHUP');
  await until(async () => await metricValue(ports.metrics, FAILURES) > failures, 'SIGHUP to reload again');
  const dump = JSON.parse((await httpCall({ port: ports.admin }, 'GET', '/config_dump')).body) as { workloads: unknown[] };
  t.is(dump.workloads.length, 2, 'the last good config keeps serving');

  agent.child.kill('SIGTERM');
  await until(() => agent.child.exitCode !== null, 'the agent to exit after SIGTERM', 10_000);
  t.is(await agent.exited, 0);
});

privilegedTest('SIGTERM during a reload of a FIFO config still shuts the agent down', async (t) => {
  const { agent } = await agentWithFifoConfig(t);
  agent.child.kill('SIGHUP');
  agent.child.kill('SIGTERM');
  await until(() => agent.child.exitCode !== null, 'the agent to exit after SIGTERM', 10_000);
  t.is(await agent.exited, 0);
});
