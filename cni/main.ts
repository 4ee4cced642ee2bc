#!/usr/bin/env node
/**
 * `meshnode-cni`: the chained CNI plugin. Kept lean on purpose — a container runtime starts it for
 * every pod, so it loads only cni/ and two small leaf modules, never the agent.
 */
import { runPlugin } from './plugin.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

const outcome = await runPlugin(process.env, await readStdin());
if (outcome.stdout) process.stdout.write(outcome.stdout + '\n');
process.exitCode = outcome.exitCode;
