import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import { privilegedTest } from '../helpers/privileged.js';
import { agentArgs, agentWithCa, httpCall, ready, startProcess, tempDir, until } from './agent-harness.js';
import { AGENT_TEST_MESH } from './agent-mesh.js';

async function setup(t: Parameters<Parameters<typeof privilegedTest>[1]>[0], mesh = AGENT_TEST_MESH) {
  const dir = await tempDir(t, 'd1-start-');
  const config = join(dir, 'mesh.yaml');
  await writeFile(config, mesh);
  const ca = { port: 9, rootFile: join(dir, 'no-root.pem'), tokenFile: join(dir, 'no-token') };
  return { dir, config, ...(await agentArgs(dir, ca, config)) };
}

privilegedTest('without CAP_SYS_ADMIN the agent exits 1 naming the missing privilege', async (t) => {
  const { args } = await setup(t);
  const agent = startProcess(t, args, ['capsh', '--drop=cap_sys_admin', '--', '-c', 'exec "$0" "$@"']);
  t.is(await agent.exited, 1);
  t.true(agent.lines.some((l) => l.includes('missing privilege CAP_SYS_ADMIN')), agent.lines.join('\n'));
}, ['capsh']);

privilegedTest('an invalid mesh config stops start-up with exit 64 and every problem, file and line', async (t) => {
  const { args } = await setup(t, 'apiVersion: v1\nkind: Pod\nmetadata: {namespace: shop}\nspec: {nodeName: [1]}\n');
  const agent = startProcess(t, args);
  t.is(await agent.exited, 64);
  t.true(agent.lines.some((l) => /mesh\.yaml:\d+/.test(l)), agent.lines.join('\n'));
});

privilegedTest('a port already in use fails start-up with exit 1', async (t) => {
  const { args, ports } = await setup(t);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(ports.admin, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const agent = startProcess(t, args);
  t.is(await agent.exited, 1);
  t.true(agent.lines.some((l) => l.includes('EADDRINUSE')), agent.lines.join('\n'));
});

privilegedTest('bad flags exit 2 with the usage', async (t) => {
  const { args } = await setup(t);
  const agent = startProcess(t, [...args, '--bogus']);
  t.is(await agent.exited, 2);
  t.true(agent.lines.some((l) => l.includes('usage: meshnode agent')));
});

privilegedTest('the running agent serves readiness, metrics and admin, reloads its config on change and drains on SIGINT', async (t) => {
  const { args, ports, config } = await agentWithCa(t, 'd1-run-');
  const agent = startProcess(t, args);
  await ready(ports.readiness);
  t.is((await httpCall({ port: ports.readiness }, 'GET', '/healthz/ready')).body, 'ready\n');
  // Both local workloads' identities get certificates from the real CA.
  await until(async () => {
    const certs = JSON.parse((await httpCall({ port: ports.admin }, 'GET', '/certs')).body) as { identity: string; state: string }[];
    return certs.length === 2 && certs.every((c) => c.state === 'available');
  }, 'two available certificates');
  const metrics = await httpCall({ port: ports.metrics }, 'GET', '/stats/prometheus');
  t.regex(metrics.body, /meshnode_registered_pods 0/);

  await writeFile(config, AGENT_TEST_MESH.replace(/---\napiVersion: v1\nkind: Pod\nmetadata: \{name: web-0[\s\S]*$/, ''));
  await until(async () => /meshnode_config_reloads_total\{result="success"\} 1/.test((await httpCall({ port: ports.metrics }, 'GET', '/metrics')).body), 'the reload');
  await until(async () => (JSON.parse((await httpCall({ port: ports.admin }, 'GET', '/certs')).body) as unknown[]).length === 1, 'the identity of the removed pod to be dropped');

  await writeFile(config, 'kind: [');
  await until(async () => /meshnode_config_reloads_total\{result="failure"\} 1/.test((await httpCall({ port: ports.metrics }, 'GET', '/metrics')).body), 'the rejection');
  const dump = JSON.parse((await httpCall({ port: ports.admin }, 'GET', '/config_dump')).body) as { workloads: unknown[] };
  t.is(dump.workloads.length, 1, 'the last good config keeps serving');

  agent.child.kill('SIGINT');
  t.is(await agent.exited, 0);
});
