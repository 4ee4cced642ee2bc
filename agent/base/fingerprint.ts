/**
 * A stable text form of a resource (Maps and Sets as sorted entries), so two resources built
 * separately compare equal exactly when they carry the same content. Used to tell a real change
 * from a re-sent resource, on both sides of the worker boundary.
 */
export function fingerprint(value: unknown): string {
  return JSON.stringify(value, replacer);
}

function replacer(key: string, value: unknown): unknown {
  // Parsed objects carry where they came from; that is not content.
  if (key === 'location' || key === 'source') return undefined;
  if (value instanceof Map) return { $map: [...value].sort(([a], [b]) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0)) };
  if (value instanceof Set) return { $set: [...value].map(String).sort() };
  return value;
}
