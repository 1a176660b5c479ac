// The reader an ingest manager would be, in its own process: it watches the
// joinfile's directory (inotify via fs.watch), reads the file on every event
// and checks each read is a whole state. Used by the writer's unit test and the
// ingress's lab test.
import { spawn } from 'node:child_process';
import { basename, dirname } from 'node:path';

const READER = `
const fs = require('node:fs');
const [dir, name, lineSource, lineFlags, counts] = process.argv.slice(1);
const lineRe = new RegExp(lineSource, lineFlags);
const lineCounts = counts === '' ? null : counts.split(',').map(Number);
const seen = new Set();
let reads = 0, bad = 0;
const whole = (text) => {
  if (text === '') return true;
  if (!text.endsWith('\\n')) return false;
  const lines = text.slice(0, -1).split('\\n');
  return (lineCounts === null || lineCounts.includes(lines.length)) && lines.every((l) => lineRe.test(l));
};
fs.watch(dir, (ev, n) => {
  if (n !== name) return;
  let text;
  try { text = fs.readFileSync(dir + '/' + name, 'utf8'); } catch { return; }
  reads++;
  if (!whole(text)) bad++;
  if (!seen.has(text)) { seen.add(text); process.stdout.write(JSON.stringify({ event: 'content', text }) + '\\n'); }
});
process.stdout.write(JSON.stringify({ event: 'ready' }) + '\\n');
process.stdin.on('data', () => { process.stdout.write(JSON.stringify({ event: 'report', reads, bad }) + '\\n'); process.exit(0); });
`;

/** What a whole state looks like: newline-terminated lines matching line, and (when given) one of lineCounts lines. */
export interface JoinfileShape {
  line: RegExp;
  lineCounts?: readonly number[];
}

export interface JoinfileReader {
  /** Every distinct content read so far, in the order first seen. */
  contents(): string[];
  /** Resolves once a read saw exactly text. */
  sawContent(text: string, what: string, timeoutMs?: number): Promise<void>;
  /** Ends the reader: how many reads it made and how many saw something that is not a whole state. */
  report(timeoutMs?: number): Promise<{ reads: number; bad: number }>;
}

type ReaderEvent = { event: string; text?: string; reads?: number; bad?: number };

/** Starts the reader on path and waits until it watches. */
export async function startJoinfileReader(t: { after(fn: () => unknown): void }, path: string, shape: JoinfileShape): Promise<JoinfileReader> {
  const args = [dirname(path), basename(path), shape.line.source, shape.line.flags, (shape.lineCounts ?? []).join(',')];
  const reader = spawn(process.execPath, ['-e', READER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => reader.kill());
  const events: ReaderEvent[] = [];
  let pending = '';
  let exited = false;
  const waiters: Array<() => void> = [];
  reader.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      events.push(JSON.parse(pending.slice(0, nl)));
      pending = pending.slice(nl + 1);
      for (const w of waiters.splice(0)) w();
    }
  });
  reader.once('exit', () => {
    exited = true;
    for (const w of waiters.splice(0)) w();
  });
  const next = (pred: (e: ReaderEvent) => boolean, what: string, timeoutMs = 15_000) =>
    new Promise<ReaderEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reader: no ${what} within ${timeoutMs} ms; saw ${JSON.stringify(events)}`)), timeoutMs);
      const check = (): void => {
        const e = events.find(pred);
        if (e) {
          clearTimeout(timer);
          resolve(e);
        } else if (exited) {
          clearTimeout(timer);
          reject(new Error(`reader exited before ${what}; saw ${JSON.stringify(events)}`));
        } else waiters.push(check);
      };
      check();
    });
  await next((e) => e.event === 'ready', 'ready');
  return {
    contents: () => events.filter((e) => e.event === 'content').map((e) => e.text as string),
    sawContent: async (text, what, timeoutMs) => void (await next((e) => e.event === 'content' && e.text === text, what, timeoutMs)),
    report: async (timeoutMs) => {
      reader.stdin.write('report\n');
      const r = await next((e) => e.event === 'report', 'report', timeoutMs);
      return { reads: Number(r.reads), bad: Number(r.bad) };
    },
  };
}
