import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { AgentClient } from '../../cni/agent-client.js';
import { checkInpodRules } from '../../agent/capture/apply.js';
import { inNetns, jsonLines } from '../../agent/demo/control-plane.js';
import { waitFor } from '../../agent/demo/system.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, createCniNode } from './cni-harness.js';
import { meshYaml, startTestMesh } from './cni-mesh.js';

interface CertRow { identity: string; state: string }
interface CallResult { connected: boolean; reply: string; ended: string }

const WEB_ID = 'spiffe://cluster.local/ns/shop/sa/web';

// The enrolment race: the runtime creates a pod in an ambient namespace before the agent's mesh
// config lists it. The pod must start captured, talk to nothing until the config knows it, and
// get its identity once it does.
privilegedTest('a pod of an ambient namespace not yet in the config is captured, refused until listed, then gets its certificate', async (t) => {
  const node = createCniNode(t);
  const [server, web] = [node.plan('server', 'shop'), node.plan('web', 'shop')];
  const mesh = await startTestMesh(t, node, [server]);
  const agentLog = () => readFileSync(`${node.dir}/agent.log`, 'utf8').slice(-3000);
  const certs = async () => JSON.parse(await inNetns(node.name, ['get', 'http://127.0.0.1:15000/certs'])) as CertRow[];
  const call = async (from: string, to: string) => JSON.parse(await inNetns(from, ['call', to, '--timeout', '3000'])) as CallResult;
  await node.addPod(server, mesh.meshnode);
  await mesh.serve(server, 8080);

  const verdict = await new AgentClient(mesh.agentSocket, 5000).enrollment('shop', 'web');
  t.like(verdict, { enrolled: true, reason: 'namespace shop is ambient; pod web is not yet in the mesh config' });
  await node.addPod(web, mesh.meshnode);
  t.deepEqual(await checkInpodRules(web.netns, { ipv6: false }), [], 'the in-pod rules are installed');
  t.like(await new AgentClient(mesh.agentSocket, 5000).registration(web.uid), { uid: web.uid, namespace: 'shop', name: 'web' });
  t.false((await certs()).some((c) => c.identity === WEB_ID), 'no identity without a workload record');

  // Fail closed both ways while the config does not list the pod.
  await mesh.serve(web, 8080);
  const out = await call(web.netnsName, `${server.ip}:8080`);
  t.false(out.reply.startsWith('hello from'), `outbound from the unlisted pod must be refused: ${JSON.stringify(out)}`);
  const inbound = await call(server.netnsName, `${web.ip}:8080`);
  t.false(inbound.reply.startsWith('hello from'), `inbound to the unlisted pod must be refused: ${JSON.stringify(inbound)}`);
  const refusedAs = (direction: string) => jsonLines(readFileSync(`${node.dir}/agent.log`, 'utf8'))
    .some((l) => l.direction === direction && l.error === 'pod shop/web is not in the mesh config');
  await waitFor('the agent to log both refusals', 5_000, () => (refusedAs('outbound') && refusedAs('inbound') ? true : undefined))
    .catch((err: Error) => { throw new Error(`${err.message}\n${agentLog()}`); });

  // The config catches up (written whole and renamed into place, as a controller would).
  writeFileSync(`${node.dir}/mesh.yaml.next`, meshYaml([server, web], 'node-1'));
  renameSync(`${node.dir}/mesh.yaml.next`, `${node.dir}/mesh.yaml`);
  await waitFor('a certificate for the newly listed pod', 20_000, async () =>
    ((await certs()).some((c) => c.identity === WEB_ID && c.state === 'available') ? true : undefined))
    .catch((err: Error) => { throw new Error(`${err.message}\n${agentLog()}`); });
  const after = await call(web.netnsName, `${server.ip}:8080`);
  t.true(after.reply.startsWith('hello from shop/server'), `${JSON.stringify(after)}\n${agentLog()}`);
}, [...CNI_TOOLS, '/usr/lib/cni/static']);
