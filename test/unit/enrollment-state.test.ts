import test from 'ava';
import { EnrollmentStateError, parseEnrollmentState } from '../../agent/base/contracts/enrollment-state.js';

const good = { version: 1, node: 'node-1', publishedAt: '2026-12-02T17:00:00.000Z', meshNamespaces: ['shop', 'web'] };

test('a published enrollment state is read back as written', (t) => {
  t.deepEqual(parseEnrollmentState(JSON.stringify(good)), good);
});

const bad: [string, string, string][] = [
  ['not JSON', '{"version":', 'not valid JSON'],
  ['a list', '[]', 'must be a JSON object'],
  ['another version', JSON.stringify({ ...good, version: 2 }), '"version" must be 1, got 2'],
  ['no node', JSON.stringify({ ...good, node: '' }), '"node" must be a non-empty string'],
  ['no publishedAt', JSON.stringify({ ...good, publishedAt: 5 }), '"publishedAt" must be a string'],
  ['a namespace that is not a name', JSON.stringify({ ...good, meshNamespaces: ['shop', 3] }), '"meshNamespaces" must be a list of namespace names'],
];
for (const [what, text, message] of bad) {
  test(`a state file with ${what} is refused saying why`, (t) => {
    t.throws(() => parseEnrollmentState(text), { instanceOf: EnrollmentStateError, message: new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) });
  });
}
