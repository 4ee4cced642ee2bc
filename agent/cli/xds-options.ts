import { DEFAULT_ISTIO_VERSION, type XdsAgentOptions } from '../sources/xds/options.js';
import { UsageError } from './usage-error.js';

/** The `--xds-*` flags, and what they resolve to (defaults taken from the CA flags). */

export const xdsFlagSpecs = {
  'xds-address': { type: 'string' },
  'xds-root': { type: 'string' },
  'xds-token-file': { type: 'string' },
  'xds-server-name': { type: 'string', default: 'istiod.istio-system.svc' },
  'xds-plaintext': { type: 'boolean', default: false },
  'xds-istio-version': { type: 'string', default: DEFAULT_ISTIO_VERSION },
} as const;

export const xdsFlagsUsage = `  --xds-address HOST:PORT    istiod's xDS (usually istiod.istio-system.svc:15012) instead of --config
  --xds-root FILE            roots verifying istiod's certificate (default: --ca-root)
  --xds-token-file FILE      bearer token for istiod, re-read on every connect (default: --ca-token-file)
  --xds-server-name NAME     name checked in istiod's certificate (default istiod.istio-system.svc)
  --xds-plaintext            no TLS (istiod's port 15010; never authenticated)
  --xds-istio-version V      ISTIO_VERSION claimed to istiod, which gates features on it (default ${DEFAULT_ISTIO_VERSION};
                             set it to the istiod release when that is older)`;


interface Values {
  readonly 'xds-address'?: string | undefined;
  readonly 'xds-root'?: string | undefined;
  readonly 'xds-token-file'?: string | undefined;
  readonly 'xds-server-name': string;
  readonly 'xds-plaintext': boolean;
  readonly 'xds-istio-version': string;
}

export function parseXdsOptions(values: Values, ca: { rootFile: string; tokenFile: string | undefined; node: string }, env = process.env): XdsAgentOptions | undefined {
  const address = values['xds-address'];
  if (address === undefined) {
    if (values['xds-plaintext'] || values['xds-root'] !== undefined || values['xds-token-file'] !== undefined) {
      throw new UsageError('--xds-root, --xds-token-file and --xds-plaintext need --xds-address');
    }
    return undefined;
  }
  if (!/^[^\s:]+:\d{1,5}$/.test(address)) throw new UsageError(`--xds-address: "${address}" is not HOST:PORT`);
  const istioVersion = values['xds-istio-version'];
  if (!/^\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?$/.test(istioVersion)) throw new UsageError(`--xds-istio-version: "${istioVersion}" is not a version like 1.28.0`);
  return {
    address,
    rootFile: values['xds-root'] ?? ca.rootFile,
    tokenFile: values['xds-token-file'] ?? ca.tokenFile,
    serverName: values['xds-server-name'],
    plaintext: values['xds-plaintext'],
    istioVersion,
    podName: env.POD_NAME || `meshnode-${ca.node}`,
    podNamespace: env.POD_NAMESPACE || 'istio-system',
    // istiod needs a valid IP here only when INSTANCE_IPS is unusable; ztunnel uses the same fallback.
    instanceIp: env.INSTANCE_IP || '1.1.1.1',
  };
}
