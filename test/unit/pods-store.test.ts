import test from 'ava';
import { mkdtemp, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodStore } from '../../agent/pods/store.js';

const pod = (uid: string) => ({ uid, namespace: 'shop', name: `p-${uid}`, netns: `/run/netns/${uid}`, ips: ['10.0.0.1'] });

async function tempStore(t: { teardown(fn: () => Promise<void>): void }): Promise<PodStore> {
  const dir = await mkdtemp(join(tmpdir(), 'd1-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return new PodStore(dir);
}

test('saved registrations load back, and removed ones do not', async (t) => {
  const store = await tempStore(t);
  await store.save(pod('a'), '4:4026531840');
  await store.save(pod('../../etc/passwd'), '4:4026531840');
  await store.save(pod('b'), '4:4026531840');
  await store.remove('b');
  await store.remove('never-saved');
  const { pods, problems } = await store.load();
  t.deepEqual(pods.map((p) => p.pod.uid).sort(), ['../../etc/passwd', 'a']);
  t.true(pods.every((p) => p.netnsId === '4:4026531840'));
  t.deepEqual(problems, []);
});

test('registration files are private (0600) and a re-save replaces the file atomically', async (t) => {
  const store = await tempStore(t);
  await store.save(pod('a'), '4:4026531840');
  await store.save({ ...pod('a'), ips: ['10.0.0.2'] }, '4:4026531840');
  const files = await readdir(store.dir);
  t.is(files.length, 1);
  t.is((await stat(join(store.dir, files[0]!))).mode & 0o777, 0o600);
  t.deepEqual((await store.load()).pods[0]?.pod.ips, ['10.0.0.2']);
});

test('an unreadable registration is reported, deleted, and does not hide the others', async (t) => {
  const store = await tempStore(t);
  await store.save(pod('a'), '4:4026531840');
  await mkdir(store.dir, { recursive: true });
  await writeFile(join(store.dir, 'broken.json'), '{"uid": ');
  await writeFile(join(store.dir, 'leftover.json.123.tmp'), 'x');
  const { pods, problems } = await store.load();
  t.deepEqual(pods.map((p) => p.pod.uid), ['a']);
  t.is(problems.length, 1);
  t.regex(problems[0]!.file, /broken\.json$/);
  t.deepEqual((await readdir(store.dir)).length, 1);
});

test('a registration written without a netns id (older agent) still loads', async (t) => {
  const store = await tempStore(t);
  await mkdir(store.dir, { recursive: true });
  await writeFile(join(store.dir, 'old.json'), JSON.stringify(pod('old')));
  t.deepEqual((await store.load()).pods, [{ pod: pod('old'), netnsId: undefined }]);
});

test('a state dir that does not exist yet holds no registrations', async (t) => {
  const store = new PodStore(join(tmpdir(), 'd1-none-' + process.pid));
  t.deepEqual(await store.load(), { pods: [], problems: [] });
});
