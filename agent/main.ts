#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=32
// V8 heap flags for the agent's data plane (docs/dataplane.md, "Performance"): a 1 MB young
// generation keeps idle and peak RSS down; a 32 MB floor under the old-generation limit stops
// the socket buffers in flight from triggering a full mark-compact every few MB of traffic.
import { readFileSync } from 'node:fs';
import type { CommandModule } from './cli/command.js';
import { UsageError } from './cli/usage-error.js';

/**
 * `meshnode <command>`: the single CLI. Commands are loaded lazily so that a short-lived command
 * (`authz check`, `config validate`) does not pay for the data plane's modules.
 */
const COMMANDS: Record<string, { module: string; summary: string }> = {
  agent: { module: './cli/agent.js', summary: 'run the node agent (certificates, capture listeners, HBONE, authz)' },
  ca: { module: './cli/ca.js', summary: 'run the built-in CA serving the Istio CA API' },
  'config validate': { module: './cli/config-validate.js', summary: 'check a mesh config and print every problem' },
  'authz check': { module: './cli/authz-check.js', summary: 'explain whether a connection would be allowed, and why' },
  'host-rules check': { module: './cli/host-rules-check.js', summary: 'compare the host-mode capture rules with what the agent installed' },
  'host-rules remove': { module: './cli/host-rules-remove.js', summary: 'remove the host-mode capture rules (the host leaves the mesh)' },
  'vm bootstrap': { module: './cli/vm-bootstrap.js', summary: 'prepare the files a VM needs to join the mesh (run on the CA host)' },
  demo: { module: './cli/demo.js', summary: 'build a two-node mesh in network namespaces and show it working (root)' },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['usage: meshnode <command> [flags]', '', 'commands:', ...lines,
    `  ${'version'.padEnd(width)}  print the version`, `  ${'help'.padEnd(width)}  this text; 'meshnode help <command>' for its flags`].join('\n');
}

function findCommand(argv: string[]): { name: string; rest: string[] } | undefined {
  const two = argv.slice(0, 2).join(' ');
  if (COMMANDS[two]) return { name: two, rest: argv.slice(2) };
  if (argv[0] !== undefined && COMMANDS[argv[0]]) return { name: argv[0], rest: argv.slice(1) };
  return undefined;
}

async function load(name: string): Promise<CommandModule> {
  // A computed specifier keeps each command's dependency graph out of the others' start-up.
  const specifier = COMMANDS[name]!.module;
  return (await import(specifier)) as CommandModule;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    const topic = argv[0] === 'help' ? findCommand(argv.slice(1)) : undefined;
    process.stdout.write((topic ? (await load(topic.name)).usage : help()) + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === 'version' || argv[0] === '--version') {
    process.stdout.write(`meshnode ${version()}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    process.stderr.write(`meshnode: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${help()}\n`);
    return 2;
  }
  const command = await load(found.name);
  try {
    return await command.run(found.rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`meshnode ${found.name}: ${err.message}\n\n${command.usage}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`meshnode: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
