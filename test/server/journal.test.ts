import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, StateCorruptError, scanJournal } from '../../src/server/store/journal.ts';
import type { Logger } from '../../src/host/host.ts';

function quietLog(lines: string[] = []): Logger {
  const put = (m: string, f?: object) => lines.push(`${m} ${JSON.stringify(f ?? {})}`);
  return { debug: put, info: put, warn: put, error: put };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mnat-journal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('records survive reopen; group commit batches fsyncs', async (t) => {
  const dir = tempDir(t);
  const j = new Journal<object, { n: number }>({ dir, log: quietLog() });
  assert.deepEqual(j.load().records, []);
  const waits: Promise<void>[] = [];
  for (let n = 0; n < 500; n++) {
    j.append({ n });
    waits.push(j.sync());
  }
  await Promise.all(waits);
  assert.ok(j.stats.fsyncs < 50, `fsyncs ${j.stats.fsyncs} for 500 records`);
  await j.close();
  const again = new Journal<object, { n: number }>({ dir, log: quietLog() });
  const loaded = again.load();
  assert.equal(loaded.records.length, 500);
  assert.deepEqual(loaded.records[499], { n: 499 });
  await again.close();
});

test('compaction: snapshot + fresh journal; stale journal of an older generation ignored', async (t) => {
  const dir = tempDir(t);
  const j = new Journal<{ s: number }, { n: number }>({ dir, log: quietLog() });
  j.load();
  j.append({ n: 1 });
  await j.sync();
  const oldJournal = readFileSync(join(dir, 'journal.log'));
  j.compact({ s: 1 });
  j.append({ n: 2 });
  await j.sync();
  await j.close();
  let loaded = new Journal<{ s: number }, { n: number }>({ dir, log: quietLog() }).load();
  assert.deepEqual(loaded.snapshot, { s: 1 });
  assert.deepEqual(loaded.records, [{ n: 2 }]);
  // crash between snapshot rename and journal reset: the old-generation journal is ignored
  writeFileSync(join(dir, 'journal.log'), oldJournal);
  loaded = new Journal<{ s: number }, { n: number }>({ dir, log: quietLog() }).load();
  assert.deepEqual(loaded.records, []);
});

test('torn tail is reported with its offset and cut; corruption in the middle refuses', async (t) => {
  const dir = tempDir(t);
  const j = new Journal<object, { n: number }>({ dir, log: quietLog() });
  j.load();
  for (let n = 0; n < 3; n++) j.append({ n });
  await j.close();
  const path = join(dir, 'journal.log');
  const good = statSync(path).size;
  appendFileSync(path, '27 0badc0de {"n":3,"partial');
  const lines: string[] = [];
  const j2 = new Journal<object, { n: number }>({ dir, log: quietLog(lines) });
  const loaded = j2.load();
  assert.equal(loaded.records.length, 3);
  assert.deepEqual(loaded.truncatedAt, { offset: good, bytes: 27 });
  assert.ok(lines.some((l) => l.includes('torn tail') && l.includes(`"offset":${good}`)));
  assert.equal(statSync(path).size, good);
  j2.append({ n: 4 });
  await j2.close();
  assert.equal(new Journal<object, { n: number }>({ dir, log: quietLog() }).load().records.length, 4);

  // flip one byte inside the second record: a good record follows, so refuse
  const data = readFileSync(path);
  const second = data.indexOf('{"n":1}');
  data[second + 5] = '7'.charCodeAt(0);
  writeFileSync(path, data);
  assert.throws(() => new Journal({ dir, log: quietLog() }).load(), (e: Error) => e instanceof StateCorruptError && /byte offset \d+/.test(e.message));
});

test('corrupt snapshot refuses to start', async (t) => {
  const dir = tempDir(t);
  const j = new Journal<{ s: string }, object>({ dir, log: quietLog() });
  j.load();
  j.compact({ s: 'hello' });
  await j.close();
  const path = join(dir, 'snapshot.json');
  writeFileSync(path, readFileSync(path, 'utf8').replace('hello', 'hellp'));
  assert.throws(() => new Journal({ dir, log: quietLog() }).load(), /fails its checksum/);
  writeFileSync(path, '{"format":');
  assert.throws(() => new Journal({ dir, log: quietLog() }).load(), /not valid JSON/);
});

test('scanJournal on garbage', () => {
  assert.deepEqual(scanJournal(Buffer.from('')).records, []);
  const r = scanJournal(Buffer.from('\0\0\0\0'));
  assert.equal(r.goodEnd, 0);
  assert.equal(r.badAt, null);
});

test('a failed write rejects every waiter and reports once', async (t) => {
  const dir = tempDir(t);
  const j = new Journal<object, { n: number }>({ dir, log: quietLog() });
  j.load();
  const failures: Error[] = [];
  j.onFailure = (e) => failures.push(e);
  // Pull the descriptor out from under it, as a dying disk would.
  const { closeSync } = await import('node:fs');
  closeSync((j as unknown as { fd: number }).fd);
  j.append({ n: 1 });
  await assert.rejects(j.sync(), /journal write failed/);
  j.append({ n: 2 });
  await assert.rejects(j.sync(), /journal write failed/);
  assert.equal(failures.length, 1);
  (j as unknown as { fd: number }).fd = -1;
});
