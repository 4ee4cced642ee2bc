import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Frees the relay's dead socket buffers with a scavenge before they force a full GC.
 *
 * Every socket read lands in a fresh ArrayBuffer whose memory lives outside V8's heap, and so
 * does every batch of DATA frames the HBONE session writes. A relay
 * carrying a bulk stream allocates about three bytes of it per byte carried and almost nothing on
 * the heap itself, so the young generation — whose scavenge would free those buffers in a
 * fraction of a millisecond — fills only every ~20 MB carried. Before that, the dead buffers pass
 * V8's external-memory limit (64 MB above what the last full GC left) and start a full
 * mark-compact of the whole heap: about 15 % of the sending agent's CPU, measured, one every
 * ~300 ms under a single stream. A scavenge every 8 MB relayed (per event loop) keeps them
 * well below that limit.
 */
const RELAYED_BYTES_PER_SCAVENGE = 8 * 1024 * 1024;

type Collect = (options: { type: 'minor' }) => void;

let collect: Collect | undefined;
let relayed = 0;

function collector(): Collect {
  if (!collect) {
    // The flag puts `gc` on the global object of contexts created while it is set. Taking it from
    // a throwaway context and clearing the flag again keeps it off every other module's globals
    // (this one's, and those of worker threads started later).
    v8.setFlagsFromString('--expose-gc');
    try {
      collect = vm.runInNewContext('gc') as Collect;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  return collect;
}

/** Counts bytes a relay carried; every 8 MB of them, a scavenge. */
export function noteRelayed(bytes: number): void {
  relayed += bytes;
  if (relayed < RELAYED_BYTES_PER_SCAVENGE) return;
  relayed = 0;
  collector()({ type: 'minor' });
}
