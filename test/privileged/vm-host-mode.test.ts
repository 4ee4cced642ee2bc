import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonLines } from '../../agent/demo/control-plane.js';
import { startVmAgent } from '../../agent/demo/vm.js';
import { privilegedTest } from '../helpers/privileged.js';
import { eventually } from '../helpers/eventually.js';
import { inNs } from '../helpers/topology.js';
import { APP_PORT, CA_PORT, POD_SERVICE_VIP, VM_ID, VM_SERVICE_VIP, buildVmWorld, type CallResult, type VmWorld } from './vm-world.js';

const TOOLS = ['ip', 'nsenter', 'iptables-save', 'iptables-restore', 'ip6tables-save', 'ip6tables-restore', 'tcpdump', 'setpriv'];

const answered = (r: CallResult, by: string) => r.reply.startsWith(`hello from ${by}`);
const refused = (r: CallResult) => r.reply === '';

/** The VM agent's access-log lines whose fields include every needle. */
function vmLog(w: VmWorld, ...needles: string[]): Record<string, unknown>[] {
  return jsonLines(w.vmAgent.log()).filter((l) => needles.every((n) => JSON.stringify(l).includes(n)));
}

/** Whether the VM agent logs such a line soon (an access-log line is written when the connection closes). */
function vmLogs(w: VmWorld, ...needles: string[]): Promise<boolean> {
  return eventually(() => { if (vmLog(w, ...needles).length === 0) throw new Error(`no log line with ${needles.join(', ')}`); return true; }, 20_000).catch(() => false);
}

async function capture(w: VmWorld, file: string): Promise<() => Promise<void>> {
  const n1 = w.topo.node('n1');
  const dump = spawn('ip', ['netns', 'exec', n1.netns, 'tcpdump', '-i', n1.linkDev, '--immediate-mode', '-U', '-n', '-w', file, 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve) => dump.stderr.on('data', (d: Buffer) => { if (d.toString().includes('listening')) resolve(); }));
  return async () => {
    const exited = new Promise((r) => dump.once('exit', r));
    dump.kill('SIGTERM');
    await exited;
  };
}

privilegedTest('a VM in host mode: pod ↔ VM over HBONE only, DENY and STRICT enforced on the VM workload, SSH direct, IPv6', async (t) => {
  const w = await buildVmWorld(t, ['--outbound-cidrs', '*']);
  const [a, b, out] = [w.topo.pod('a'), w.topo.pod('b'), w.topo.pod('out')];
  const pcap = join(w.dir, 'link.pcap');
  const stop = await capture(w, pcap);

  const toVm = await w.call(a.netns, `${w.vmIp}:${APP_PORT}`);
  t.true(answered(toVm, 'shop/vm-app'), `pod a → VM: ${JSON.stringify(toVm)}`);
  t.true(await vmLogs(w, '"direction":"inbound"', 'ns/shop/sa/a'), 'the VM agent authorized pod a\'s identity over HBONE');
  const viaService = await w.call(a.netns, `${VM_SERVICE_VIP}:80`);
  t.true(answered(viaService, 'shop/vm-app'), `pod a → VM service VIP: ${JSON.stringify(viaService)}`);
  const fromVm = await w.call(w.vmNetns, `${a.ip}:${APP_PORT}`);
  t.true(answered(fromVm, 'shop/a'), `VM → pod a: ${JSON.stringify(fromVm)}`);
  const fromVmService = await w.call(w.vmNetns, `${POD_SERVICE_VIP}:80`);
  t.true(answered(fromVmService, 'shop/a'), `VM → pod service VIP: ${JSON.stringify(fromVmService)}`);
  t.true(await vmLogs(w, '"direction":"outbound"', VM_ID), 'the VM agent sent the VM app\'s calls with the VM identity');
  await stop();
  const other = inNs(w.topo.node('n1').netns, 'tcpdump', ['-r', pcap, '-n', `tcp and not port 15008 and not port ${CA_PORT}`]).trim();
  t.is(other, '', 'only HBONE (15008) and the CA crossed the link');
  t.true(inNs(w.topo.node('n1').netns, 'tcpdump', ['-r', pcap, '-n', 'tcp port 15008']).trim().split('\n').length > 4, 'HBONE carried the calls');
  t.false(readFileSync(pcap).includes(Buffer.from('ping from the demo')), 'a payload crossed the link in clear text');

  const denied = await w.call(b.netns, `${w.vmIp}:${APP_PORT}`);
  t.true(refused(denied), `pod b → VM must be denied: ${JSON.stringify(denied)}`);
  t.true(await vmLogs(w, 'ns/shop/sa/b', '"decision":"deny-matched"'), 'the VM agent logged the DENY');
  const plaintext = await w.call(out.netns, `${w.vmIp}:${APP_PORT}`);
  t.true(refused(plaintext), `plaintext to the VM workload port must be refused: ${JSON.stringify(plaintext)}`);
  t.true(await vmLogs(w, out.ip, '"decision":"peer-authn-strict"'), 'the VM agent logged the STRICT refusal');
  const ssh = await w.call(out.netns, `${w.vmIp}:22`);
  t.true(answered(ssh, 'sshd'), `SSH (22) on the VM is reached directly: ${JSON.stringify(ssh)}`);

  // With every destination captured, the agent's own CA connection still went out directly: the
  // CA issued to the VM, and the VM agent's proxy never saw a connection to the CA.
  t.true(jsonLines(w.ca.log()).some((l) => l.msg === 'issued certificate' && l.identity === VM_ID));
  t.is(vmLog(w, `${w.topo.node('n1').linkAddress}:${CA_PORT}`).length, 0, 'the agent captured its own CA traffic');

  const v6 = await w.call(a.netns, `[${w.vmIp6}]:${APP_PORT}`);
  t.true(answered(v6, 'shop/vm-app'), `pod a → VM over IPv6: ${JSON.stringify(v6)}`);
  t.true(await vmLogs(w, '"direction":"inbound"', 'ns/shop/sa/a', w.vmIp6), 'the IPv6 call arrived over HBONE');
  const v6back = await w.call(w.vmNetns, `[${w.podA6}]:${APP_PORT}`);
  t.true(answered(v6back, 'shop/a'), `VM → pod a over IPv6: ${JSON.stringify(v6back)}`);
}, TOOLS);

privilegedTest('a VM in host mode: renews by certificate, keeps its rules across a restart, fails closed while stopped', async (t) => {
  const w = await buildVmWorld(t, ['--cert-ttl', '8s']);
  const [a, out] = [w.topo.pod('a'), w.topo.pod('out')];
  t.true(answered(await w.call(a.netns, `${w.vmIp}:${APP_PORT}`), 'shop/vm-app'));
  const issued = () => jsonLines(w.ca.log()).filter((l) => l.msg === 'issued certificate' && l.identity === VM_ID);
  t.is(issued()[0]?.via, 'static-token', 'the first certificate came with the bootstrap token');
  // Without the token a renewal can only be authenticated by the VM's own certificate.
  inNs(w.vmNetns, 'sh', ['-c', `: > ${w.vmSpec.dir}/ca-token`]);
  await eventually(() => { if (!issued().some((l) => l.via === 'client-certificate')) throw new Error('not renewed by certificate yet'); }, 15_000);
  t.is(issued().filter((l) => l.via === 'client-certificate')[0]?.caller, VM_ID);

  t.is((await w.hostRules('check')).code, 0, 'the rules are as installed');
  await w.stopVmAgent();
  t.is((await w.hostRules('check')).code, 0, 'a stopped agent leaves its rules in place');
  const closed = await w.call(a.netns, `${w.vmIp}:${APP_PORT}`);
  t.true(refused(closed), `pod a → VM with the agent stopped: ${JSON.stringify(closed)}`);
  const plain = await w.call(out.netns, `${w.vmIp}:${APP_PORT}`);
  t.false(plain.connected && plain.reply !== '', `plaintext to the captured port fails closed: ${JSON.stringify(plain)}`);
  t.true(answered(await w.call(out.netns, `${w.vmIp}:22`), 'sshd'), 'SSH keeps working with the agent stopped');
  const outbound = await w.call(w.vmNetns, `${a.ip}:${APP_PORT}`);
  t.true(refused(outbound), `the VM app's mesh calls fail closed too: ${JSON.stringify(outbound)}`);

  w.vmAgent = await startVmAgent(w.res, w.vmSpec);
  await eventually(async () => { if (!answered(await w.call(a.netns, `${w.vmIp}:${APP_PORT}`), 'shop/vm-app')) throw new Error('not resumed'); }, 15_000);
  t.truthy(issued().at(-1)?.via === 'client-certificate', 'after the restart, the stored certificate renewed itself without a token');
  t.is((await w.hostRules('check')).code, 0, 'a restart re-applies the same rules, without duplicates');

  await w.stopVmAgent();
  t.is((await w.hostRules('remove')).code, 0);
  t.not((await w.hostRules('check')).code, 0, 'nothing left to check after removal');
  t.true(answered(await w.call(out.netns, `${w.vmIp}:${APP_PORT}`), 'shop/vm-app'), 'after removal the port is reached directly');
}, TOOLS);
