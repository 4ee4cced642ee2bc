import { execFileSync } from 'node:child_process';

/** The commands of `tools` not found on PATH (sbin included); free of ava, so benchmarks can use it. */
export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
      return false;
    } catch {
      return true;
    }
  });
}
