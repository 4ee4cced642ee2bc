import { parentPort, workerData } from 'node:worker_threads';
import { Problems } from '../../config/problems.js';
import { readConfigDocuments, translateDocuments } from '../../model/load.js';
import { MeshTranslator } from '../../model/translate/translator.js';
import type { LoadAnswer, LoadRequest, WorkerSetup } from './messages.js';

/**
 * The YAML source's worker thread: reads, parses and translates the config off the agent's
 * event loop, keeps the last accepted config as its baseline, and answers with only what
 * changed. Requests are served one at a time, in order.
 */
const setup = workerData as WorkerSetup;
const translator = new MeshTranslator(setup.settings);
let first = true;
let queue: Promise<void> = Promise.resolve();

async function load(id: number): Promise<LoadAnswer> {
  const problems = new Problems();
  const docs = await readConfigDocuments(setup.path, problems);
  const { pending, policies } = translateDocuments(translator, docs, problems);
  if (problems.errors.length > 0) return { id, result: 'rejected', problems: problems.list };
  // A writer that truncates then writes exposes an empty file in between: never apply that over a non-empty state.
  const serving = first ? setup.hadConfig : translator.size.workloads + translator.size.services + translator.size.policies > 0;
  if (docs.length === 0 && serving) return { id, result: 'empty' };
  pending.commit();
  const full = first;
  first = false;
  return { id, result: 'accepted', delta: pending.delta, problems: problems.list, counts: { ...translator.size, policies }, full, recomputed: pending.recomputed };
}

parentPort!.on('message', (req: LoadRequest) => {
  queue = queue.then(async () => {
    let answer: LoadAnswer;
    try {
      answer = await load(req.id);
    } catch (err) {
      answer = { id: req.id, result: 'failed', error: (err as Error).stack ?? String(err) };
    }
    parentPort!.postMessage(answer);
  });
});
