/** Runtimes and service managers start us with a minimal PATH; the sbin directories hold iptables and ip. */
const SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The environment for the network tools we run: PATH extended by the sbin directories. */
export function toolEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: process.env.PATH ? `${process.env.PATH}:${SEARCH_PATH}` : SEARCH_PATH };
}
