import { CniCode, CniError } from './errors.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

/** The Kubernetes pod identity a CRI runtime passes in CNI_ARGS. */
export interface PodArgs {
  readonly namespace?: string;
  readonly name?: string;
  readonly uid?: string;
}

export interface CniEnv {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly path: string;
  readonly pod: PodArgs;
}

/** Variables each command needs (CNI spec "Parameters"); CNI_NETNS is optional for DEL. */
const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  VERSION: [],
  STATUS: [],
  GC: ['CNI_PATH'],
};

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * CNI_ARGS `K=V;K=V`. Unknown keys are accepted whatever IgnoreUnknown says: this plugin only
 * reads the K8S_POD_* keys and must not fail a pod over keys meant for other plugins.
 */
export function parseCniArgs(text: string): PodArgs {
  const values = new Map<string, string>();
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.InvalidEnvironment, 'invalid CNI_ARGS', `"${pair}" is not KEY=VALUE`);
    values.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const get = (k: string) => { const v = values.get(k); return v === undefined || v === '' ? undefined : v; };
  return { namespace: get('K8S_POD_NAMESPACE'), name: get('K8S_POD_NAME'), uid: get('K8S_POD_UID') };
}

export function parseCniEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(CniCode.InvalidEnvironment, command === '' ? 'required env variables [CNI_COMMAND] missing' : `unknown CNI_COMMAND "${command}"`,
      `CNI_COMMAND must be one of ${COMMANDS.join(', ')}`);
  }
  const cmd = command as CniCommand;
  const missing = REQUIRED[cmd].filter((k) => !env[k]);
  if (missing.length > 0) throw new CniError(CniCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId !== '' && !CONTAINER_ID.test(containerId)) {
    throw new CniError(CniCode.InvalidEnvironment, 'invalid CNI_CONTAINERID',
      `"${containerId}" must start with a letter or digit followed by letters, digits, "_", "." or "-"`);
  }
  return {
    command: cmd, containerId, netns: env.CNI_NETNS ?? '', ifname: env.CNI_IFNAME ?? '', path: env.CNI_PATH ?? '',
    pod: parseCniArgs(env.CNI_ARGS ?? ''),
  };
}
