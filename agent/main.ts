#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=32
// V8 heap flags for the agent's data plane (docs/dataplane.md, "Performance"): a 1 MB young
// generation keeps idle and peak RSS down; a 32 MB floor under the old-generation limit stops
// the socket buffers in flight from triggering a full mark-compact every few MB of traffic.
import { packageVersion } from './base/install-layout.js';
import type { CommandModule } from './cli/command.js';
import { UsageError } from './cli/usage-error.js';
import { closest } from './cli/suggest.js';

/**
 * `meshnode <command>`: the single CLI. Commands are loaded lazily so that a short-lived command
 * (`authz check`, `config validate`) does not pay for the data plane's modules.
 */
const COMMANDS: Record<string, { module: string; summary: string; export?: string }> = {
  agent: { module: './cli/agent.js', summary: 'run the node agent (certificates, capture listeners, HBONE, authz)' },
  ca: { module: './cli/ca.js', summary: 'run the built-in CA serving the Istio CA API' },
  'ca revoke': { module: './cli/ca-revocations.js', export: 'revoke', summary: 'revoke a certificate (serial) or an identity at the built-in CA' },
  'ca unrevoke': { module: './cli/ca-revocations.js', export: 'unrevoke', summary: 'lift the revocation of an identity (or serial) at the built-in CA' },
  'ca revocations': { module: './cli/ca-revocations.js', export: 'revocations', summary: 'list what the built-in CA has revoked' },
  'config validate': { module: './cli/config-validate.js', summary: 'check a mesh config and print every problem' },
  'authz check': { module: './cli/authz-check.js', summary: 'explain whether a connection would be allowed, and why' },
  'host-rules check': { module: './cli/host-rules-check.js', summary: 'compare the host-mode capture rules with what the agent installed' },
  'host-rules remove': { module: './cli/host-rules-remove.js', summary: 'remove the host-mode capture rules (the host leaves the mesh)' },
  'vm bootstrap': { module: './cli/vm-bootstrap.js', summary: 'prepare the files a VM needs to join the mesh (run on the CA host)' },
  demo: { module: './cli/demo.js', summary: 'build a two-node mesh in network namespaces and show it working (root)' },
  'ctl status': { module: './cli/ctl/status.js', summary: "a running agent's sources, certificates, captured pods and readiness" },
  'ctl workloads': { module: './cli/ctl/workloads.js', summary: 'the workloads a running agent knows' },
  'ctl services': { module: './cli/ctl/services.js', summary: 'the services a running agent knows' },
  'ctl policies': { module: './cli/ctl/policies.js', summary: 'the authorization policies a running agent enforces' },
  'ctl certificates': { module: './cli/ctl/certificates.js', summary: 'the certificates a running agent holds' },
  'ctl connections': { module: './cli/ctl/connections.js', summary: 'the connections a running agent is proxying now' },
  'ctl log': { module: './cli/ctl/log.js', summary: "show or change a running agent's log levels per component" },
  'ctl tls-check': { module: './cli/ctl/tls-check.js', summary: 'whether traffic between two workloads is mTLS, and which policy applies' },
};

function listing(names: string[]): string[] {
  const width = Math.max(...names.map((c) => c.length), 'version'.length);
  return names.map((name) => `  ${name.padEnd(width)}  ${COMMANDS[name]!.summary}`);
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length), 'version'.length);
  return ['usage: meshnode <command> [flags]', '', 'commands:', ...listing(Object.keys(COMMANDS)),
    `  ${'version'.padEnd(width)}  print the version (also --version)`,
    `  ${'help'.padEnd(width)}  this text; 'meshnode <command> --help' for its flags`].join('\n');
}

/** The subcommands of a command group (`ctl`, `config`, ...): table entries whose name starts with it. */
function subcommands(group: string): string[] {
  return Object.keys(COMMANDS).filter((name) => name.startsWith(`${group} `));
}

function groupHelp(group: string): string {
  return [`usage: meshnode ${group} <subcommand> [flags]`, '', 'subcommands:', ...listing(subcommands(group)), '',
    `'meshnode ${group} <subcommand> --help' for its flags`].join('\n');
}

function findCommand(argv: string[]): { name: string; rest: string[] } | undefined {
  const two = argv.slice(0, 2).join(' ');
  if (COMMANDS[two]) return { name: two, rest: argv.slice(2) };
  if (argv[0] !== undefined && COMMANDS[argv[0]]) return { name: argv[0], rest: argv.slice(1) };
  return undefined;
}

const isHelpFlag = (arg: string | undefined) => arg === '--help' || arg === '-h';

/** `--help` or `-h` anywhere before a `--` that ends the flags. */
function wantsHelp(rest: string[]): boolean {
  const end = rest.indexOf('--');
  return (end < 0 ? rest : rest.slice(0, end)).some(isHelpFlag);
}

function unknownCommand(argv: string[]): string {
  const group = subcommands(argv[0] ?? '').length > 0 ? argv[0]! : undefined;
  const typed = group ? `${group} ${argv[1]}` : argv[0]!;
  const candidates = group ? subcommands(group) : [...new Set(Object.keys(COMMANDS).map((name) => name.split(' ')[0]!))];
  const guess = closest(typed, candidates);
  const hint = guess ? `; did you mean "meshnode ${guess}"?` : '';
  return `meshnode: unknown command "${typed}"${hint}\n\n${group ? groupHelp(group) : help()}\n`;
}

async function load(name: string): Promise<CommandModule> {
  // A computed specifier keeps each command's dependency graph out of the others' start-up.
  const { module: specifier, export: name_ } = COMMANDS[name]!;
  const loaded = (await import(specifier)) as Record<string, unknown>;
  return (name_ ? loaded[name_] : loaded) as CommandModule;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write(help() + '\n');
    return 2;
  }
  if (argv[0] === 'help' || isHelpFlag(argv[0])) {
    const topic = argv[0] === 'help' ? findCommand(argv.slice(1)) : undefined;
    const group = argv[0] === 'help' && argv[1] !== undefined && subcommands(argv[1]).length > 0 ? argv[1] : undefined;
    process.stdout.write((topic ? (await load(topic.name)).usage : group ? groupHelp(group) : help()) + '\n');
    return 0;
  }
  if (argv[0] === 'version' || argv[0] === '--version') {
    process.stdout.write(`meshnode ${packageVersion()}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    // A group named alone, or with --help, lists its subcommands; anything else is a typo.
    if (subcommands(argv[0]!).length > 0 && (argv.length === 1 || isHelpFlag(argv[1]))) {
      process.stdout.write(groupHelp(argv[0]!) + '\n');
      return 0;
    }
    process.stderr.write(unknownCommand(argv));
    return 2;
  }
  // `ca` is a command and a group: a word after it that is no flag is a mistyped subcommand.
  const stray = found.rest[0];
  if (subcommands(found.name).length > 0 && stray !== undefined && !stray.startsWith('-')) {
    process.stderr.write(unknownCommand(argv));
    return 2;
  }
  const command = await load(found.name);
  if (wantsHelp(found.rest)) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
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
