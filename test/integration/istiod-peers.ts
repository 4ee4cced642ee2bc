import type { ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { CertManagerOptions } from '../../agent/identity/index.js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE } from '../../agent/sources/xds/api.js';
import type { XdsAgentOptions } from '../../agent/sources/xds/options.js';
import { AdsServer, type AdsResource } from '../helpers/ads-server.js';
import { TestCa } from '../helpers/test-ca.js';
import { NODE_TOKEN, startCa, writeTokens, type CaProcess } from './ca-support.js';

/**
 * What an agent next to istiod talks to, for whole-agent tests: a real `meshnode ca` standing in
 * for istiod's CA (the node token may impersonate `impersonate`), and an ADS server of our own
 * over TLS with istiod's serving names, holding `addresses` and no authorizations. All of it is
 * stopped in teardown.
 */
export interface IstiodPeers {
  readonly ca: CaProcess;
  readonly ads: AdsServer;
  /** The agent options that point at these peers. */
  xds(node: string, instanceIp: string): XdsAgentOptions;
  identity(node: string): CertManagerOptions;
}

const TD = 'cluster.local';
const LOCAL = '127.0.0.1';

export async function startIstiodPeers(t: ExecutionContext, work: string, opts: { impersonate: string; addresses: readonly AdsResource[] }): Promise<IstiodPeers> {
  const ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work, `
- token: ${NODE_TOKEN}
  identity: spiffe://${TD}/ns/istio-system/sa/ztunnel
  impersonate: ["${opts.impersonate}"]
`)]);
  t.teardown(() => ca.stop());
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, NODE_TOKEN + '\n');

  // istiod's side: its own serving certificate, verified with its root as --xds-root.
  const istiodCa = new TestCa();
  t.teardown(() => istiodCa.dispose());
  const serving = istiodCa.issue([`spiffe://${TD}/ns/istio-system/sa/istiod,DNS:istiod.istio-system.svc`]);
  const xdsRoot = join(work, 'istiod-root.pem');
  writeFileSync(xdsRoot, istiodCa.rootPem);
  const ads = new AdsServer(() => grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.chainPem.join('')) }], false));
  ads.set(ADDRESS_TYPE, opts.addresses);
  ads.set(AUTHORIZATION_TYPE, []);
  const adsPort = await ads.start();
  t.teardown(() => ads.stop());
  return {
    ca, ads,
    xds: (node, instanceIp) => ({
      address: `${LOCAL}:${adsPort}`, serverName: 'istiod.istio-system.svc', rootFile: xdsRoot, tokenFile, plaintext: false,
      podName: `meshnode-${node}`, podNamespace: 'istio-system', instanceIp,
    }),
    identity: (node) => ({
      node, caAddress: { host: LOCAL, port: ca.port }, caRootFile: join(work, 'ca', 'root-cert.pem'), tokenFile, clusterId: 'Kubernetes', certTtlMs: 3_600_000,
    }),
  };
}
