import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../helpers/paths.js';
import { startKubeCluster } from '../helpers/kube-cluster.js';
import { kubeTest } from '../helpers/kube-test.js';

/**
 * deploy/ against a real API server: every manifest passes server-side validation
 * (`kubectl apply --dry-run=server -f deploy/`), the service accounts get what their components
 * use and nothing more (`kubectl auth can-i` as each account), and no container asks for more
 * than capabilities, the host's PID namespace, or every host interface for its endpoints.
 */

const deployDir = join(repoRoot, 'deploy');
const AGENT = 'system:serviceaccount:meshnode-system:meshnode';
const CA = 'system:serviceaccount:meshnode-system:meshnode-ca';
/** The istiod variant's agent: ztunnel's account, with only what enrolment needs. */
const ISTIOD_AGENT = 'system:serviceaccount:istio-system:ztunnel';

interface Container { name: string; args?: string[]; securityContext?: { privileged?: boolean; capabilities?: { add?: string[]; drop?: string[] } } }
interface Workload { kind: string; metadata: { name: string }; spec: { template: { spec: { hostPID?: boolean; containers: Container[] } } } }

function workloads(): Workload[] {
  return readdirSync(deployDir).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(deployDir, f), 'utf8')).map((d) => d.toJS() as Workload))
    .filter((o) => o?.kind === 'DaemonSet' || o?.kind === 'Deployment');
}

kubeTest('deploy/: server-side dry run passes, RBAC is what the components use, no privileged containers', async (t) => {
  const kube = await startKubeCluster();
  t.teardown(() => kube.close());
  // A dry run creates nothing, so the namespaces the manifests fill must exist first; istio-system
  // is istiod's, present wherever the istiod variant is installed.
  await kube.apply('apiVersion: v1\nkind: Namespace\nmetadata: {name: meshnode-system}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n');
  const dry = await kube.kubectl(['apply', '--dry-run=server', '-f', deployDir]);
  t.is(dry.code, 0, dry.stderr);
  for (const object of ['daemonset.apps/meshnode-agent', 'deployment.apps/meshnode-ca', 'service/meshnode-ca', 'clusterrole.rbac.authorization.k8s.io/meshnode-agent', 'clusterrole.rbac.authorization.k8s.io/meshnode-ca']) {
    t.regex(dry.stdout, new RegExp(`${object} (created|configured|unchanged) \\(server dry run\\)`), dry.stdout);
  }

  for (const file of ['meshnode.yaml', 'meshnode-ca.yaml', 'meshnode-istiod.yaml']) {
    const applied = await kube.kubectl(['apply', '-f', join(deployDir, file)]);
    t.is(applied.code, 0, applied.stderr);
  }
  const can = async (who: string, verb: string, resource: string) => {
    const r = await kube.kubectl(['auth', 'can-i', verb, resource, '--all-namespaces', '--as', who]);
    return r.stdout.trim() === 'yes';
  };
  for (const resource of ['pods', 'services', 'namespaces', 'authorizationpolicies.security.istio.io', 'peerauthentications.security.istio.io', 'serviceentries.networking.istio.io', 'workloadentries.networking.istio.io']) {
    for (const verb of ['list', 'watch']) t.true(await can(AGENT, verb, resource), `agent may ${verb} ${resource}`);
    t.false(await can(AGENT, 'update', resource), `agent may not update ${resource}`);
  }
  t.false(await can(AGENT, 'list', 'secrets'));
  t.false(await can(AGENT, 'create', 'tokenreviews.authentication.k8s.io'));
  t.true(await can(CA, 'create', 'tokenreviews.authentication.k8s.io'));
  t.true(await can(CA, 'get', 'pods'));
  t.true(await can(CA, 'list', 'pods'));
  t.false(await can(CA, 'watch', 'pods'));
  t.false(await can(CA, 'list', 'secrets'));
  t.false(await can(CA, 'create', 'pods'));
  t.true(await can(ISTIOD_AGENT, 'watch', 'namespaces'));
  t.true(await can(ISTIOD_AGENT, 'patch', 'pods'));
  for (const [verb, resource] of [['list', 'pods'], ['update', 'pods'], ['update', 'namespaces'], ['list', 'secrets'], ['list', 'services']] as const) {
    t.false(await can(ISTIOD_AGENT, verb, resource), `istiod variant may not ${verb} ${resource}`);
  }

  const found = workloads();
  t.true(found.length >= 3, `found ${found.map((w) => w.metadata.name).join(', ')}`);
  for (const w of found) {
    t.not(w.spec.template.spec.hostPID, true, `${w.kind} ${w.metadata.name} does not share the host's PIDs`);
    for (const c of w.spec.template.spec.containers) {
      const where = `${w.kind} ${w.metadata.name}/${c.name}`;
      t.not(c.securityContext?.privileged, true, `${where} is not privileged`);
      t.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where} drops every capability it does not add`);
      const everywhere = (c.args ?? []).filter((a) => /^--(metrics|readiness)-address=(0\.0\.0\.0|\[::\]|):/.test(a));
      if (w.kind === 'DaemonSet') t.deepEqual(everywhere, [], `${where} (host network) serves no endpoint on every host interface`);
    }
  }
});
