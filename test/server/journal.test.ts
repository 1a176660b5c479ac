import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, JournalWriteError, StateCorruptError, scanJournal, type Fold } from '../../src/server/store/journal.ts';
import { CLOSED_JOURNAL, readJournalFile, readSnapshot, SNAPSHOT, snapshotText } from '../../src/server/store/journal-format.ts';
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

/** A fold for a journal of {n} records whose snapshot is {sum}: what compaction.ts does for the state machine. */
const sumFold: Fold = async (dir, generation) => {
  const { snapshot } = readSnapshot<{ sum: number }>(dir);
  const closed = readJournalFile<{ n: number }>(join(dir, CLOSED_JOURNAL));
  assert.equal(closed?.generation, generation);
  let sum = snapshot?.sum ?? 0;
  for (const r of closed!.records) sum += r.n;
  writeFileSync(join(dir, SNAPSHOT), snapshotText(generation + 1, { sum }));
};

test('compaction rotates between group commits under continuous writes; snapshot + journal give every record', async (t) => {
  const dir = tempDir(t);
  const j = new Journal<{ sum: number }, { n: number }>({ dir, log: quietLog(), compactBytes: 2048, fold: sumFold });
  j.load();
  // Never idle: a sync is always waiting, as under continuous writes.
  let expected = 0;
  const waits: Promise<void>[] = [];
  for (let n = 1; n <= 2000; n++) {
    j.append({ n });
    expected += n;
    waits.push(j.sync());
    if (n % 50 === 0) await waits[waits.length - 1];
  }
  await Promise.all(waits);
  await j.settled();
  assert.ok(j.stats.compactions >= 1, `compactions ${j.stats.compactions}`);
  await j.close();
  const again = new Journal<{ sum: number }, { n: number }>({ dir, log: quietLog() });
  const loaded = again.load();
  assert.ok(loaded.generation >= 1);
  const sum = (loaded.snapshot?.sum ?? 0) + loaded.records.reduce((a, r) => a + r.n, 0);
  assert.equal(sum, expected, 'snapshot + replayed records hold every record exactly once');
  await again.close();
});

test('an interrupted compaction: a closed journal not yet folded is replayed; one already folded is removed', async (t) => {
  const dir = tempDir(t);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slowFold: Fold = async (d, g) => {
    await gate;
    await sumFold(d, g);
  };
  const j = new Journal<{ sum: number }, { n: number }>({ dir, log: quietLog(), compactBytes: 256, fold: slowFold });
  j.load();
  for (let n = 1; n <= 20; n++) {
    j.append({ n });
    await j.sync();
  }
  // the fold is held: snapshot absent, the closed journal and a live one exist
  let loaded = new Journal<{ sum: number }, { n: number }>({ dir, log: quietLog() }).load();
  assert.equal(loaded.snapshot, null);
  assert.equal(loaded.records.reduce((a, r) => a + r.n, 0), 210);
  const closedCopy = readFileSync(join(dir, CLOSED_JOURNAL));
  release();
  await j.settled();
  await j.close();
  assert.equal(j.stats.compactions, 1);
  // crash after the snapshot rename, before the closed journal was removed: it is stale now
  writeFileSync(join(dir, CLOSED_JOURNAL), closedCopy);
  const lines: string[] = [];
  loaded = new Journal<{ sum: number }, { n: number }>({ dir, log: quietLog(lines) }).load();
  assert.equal((loaded.snapshot?.sum ?? 0) + loaded.records.reduce((a, r) => a + r.n, 0), 210);
  assert.ok(lines.some((l) => l.includes('already folded')), lines.join('\n'));
  assert.equal(statSync(join(dir, CLOSED_JOURNAL), { throwIfNoEntry: false }), undefined);
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
  const path = join(dir, 'snapshot.json');
  writeFileSync(path, snapshotText(1, { s: 'hello' }));
  const j = new Journal<{ s: string }, object>({ dir, log: quietLog() });
  assert.deepEqual(j.load().snapshot, { s: 'hello' });
  await j.close();
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

test('a failed write: cut back to the durable end, every waiter rejected, refused until recover()', async (t) => {
  const dir = tempDir(t);
  const j = new Journal<object, { n: number }>({ dir, log: quietLog() });
  j.load();
  j.append({ n: 0 });
  await j.sync();
  const durable = statSync(join(dir, 'journal.log')).size;
  const failures: JournalWriteError[] = [];
  j.onFailure = (e) => failures.push(e);
  // Pull the descriptor out from under it, as a dying disk would; a read-only one stands in for the file.
  const { closeSync, openSync } = await import('node:fs');
  const fd = (j as unknown as { fd: number }).fd;
  closeSync(fd);
  assert.equal(openSync(join(dir, 'journal.log'), 'r'), fd);
  j.append({ n: 1 });
  const first = j.sync();
  j.append({ n: 2 });
  const second = j.sync();
  await assert.rejects(first, (e: Error) => e instanceof JournalWriteError && /journal write failed/.test(e.message));
  await assert.rejects(second, /journal write failed/);
  assert.equal(failures.length, 1);
  assert.ok(j.failure);
  j.append({ n: 3 });
  await assert.rejects(j.sync(), /journal write failed/);
  assert.equal(statSync(join(dir, 'journal.log')).size, durable, 'nothing past the durable end');
  closeSync(fd);
  (j as unknown as { fd: number }).fd = openSync(join(dir, 'journal.log'), 'a');
  await j.probe();
  j.recover();
  j.append({ n: 4 });
  await j.sync();
  await j.close();
  assert.deepEqual(new Journal<object, { n: number }>({ dir, log: quietLog() }).load().records, [{ n: 0 }, { n: 4 }]);
});
