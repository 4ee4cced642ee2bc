import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMeshnode } from '../helpers/meshnode-cli.js';
import { repoRoot } from '../helpers/paths.js';

/**
 * The conventions every `meshnode` command follows, driven through the real CLI: `--help`/`-h`
 * print usage on stdout and exit 0, a group lists its subcommands, `--version`, and unknown
 * commands or flags exit 2 with a suggestion. Commands are taken from `meshnode help` itself, so
 * a command added to the table is checked without touching this test.
 */
async function commands(): Promise<string[]> {
  const help = await runMeshnode(['help']);
  const section = help.stdout.split('commands:\n')[1] ?? '';
  return section.split('\n').map((l) => /^ {2}(\S+(?: [a-z-]+)?) {2,}/.exec(l)?.[1]).filter((c): c is string => c !== undefined && c !== 'version' && c !== 'help');
}

test('--help and -h print every command\'s usage on stdout and exit 0', async (t) => {
  const names = await commands();
  t.true(names.includes('ctl workloads') && names.includes('agent') && names.includes('config validate'), names.join(', '));
  // Three CLI processes at a time: the suite shares the machine.
  for (let i = 0; i < names.length; i += 3) {
    await Promise.all(names.slice(i, i + 3).map(async (name) => {
      const flag = name.length % 2 === 0 ? '--help' : '-h';
      const run = await runMeshnode([...name.split(' '), flag]);
      t.is(run.code, 0, `${name} ${flag}: ${run.stderr}`);
      t.true(run.stdout.startsWith(`usage: meshnode ${name}`), `${name} ${flag} printed: ${run.stdout.slice(0, 80)}`);
      t.is(run.stderr, '', `${name} ${flag} wrote to stderr`);
    }));
  }
  const late = await runMeshnode(['config', 'validate', '--config', 'x.yaml', '-h']);
  t.is(late.code, 0, '-h after other flags still asks for help');
  t.regex(late.stdout, /^usage: meshnode config validate/);
});

test('a command group alone lists its subcommands; meshnode --version prints the package version', async (t) => {
  const ctl = await runMeshnode(['ctl']);
  t.is(ctl.code, 0);
  for (const sub of ['status', 'workloads', 'services', 'policies', 'certificates', 'connections', 'log', 'tls-check']) {
    t.regex(ctl.stdout, new RegExp(`^ {2}ctl ${sub} +\\S`, 'm'), `ctl ${sub} is listed`);
  }
  t.like(await runMeshnode(['authz', '--help']), { code: 0 });
  t.regex((await runMeshnode(['help', 'config'])).stdout, /config validate/);
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  t.like(await runMeshnode(['--version']), { code: 0, stdout: `meshnode ${version}\n` });
});

test('unknown commands and flags exit 2 and suggest the near miss', async (t) => {
  const sub = await runMeshnode(['ctl', 'worklods']);
  t.is(sub.code, 2);
  t.regex(sub.stderr, /^meshnode: unknown command "ctl worklods"; did you mean "meshnode ctl workloads"\?/);
  // `ca` runs the CA and is also the group of `ca revoke`, `ca unrevoke`, `ca revocations`.
  const both = await runMeshnode(['ca', 'revok', '--dir', '/tmp/ca']);
  t.is(both.code, 2);
  t.regex(both.stderr, /^meshnode: unknown command "ca revok"; did you mean "meshnode ca revoke"\?/);
  const top = await runMeshnode(['confg', 'validate']);
  t.is(top.code, 2);
  t.regex(top.stderr, /did you mean "meshnode config"\?/);
  const none = await runMeshnode(['frobnicate']);
  t.is(none.code, 2);
  t.regex(none.stderr, /^meshnode: unknown command "frobnicate"\n/);
  const flag = await runMeshnode(['config', 'validate', '--confg', 'x.yaml']);
  t.is(flag.code, 2);
  t.regex(flag.stderr, /unknown flag --confg \(did you mean --config\?\)/);
  const bare = await runMeshnode([]);
  t.is(bare.code, 2);
  t.regex(bare.stderr, /^usage: meshnode <command>/);
});
