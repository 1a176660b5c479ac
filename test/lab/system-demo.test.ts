// The main job, unattended: the live lab demo runs for a short while, every LAN
// host gets its global channel with the original addresses (PASS, exit 0), and
// it leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from '../../lab/lab.ts';

test('npm run demo -- --duration 20: PASS, exit 0, nothing left behind', async () => {
  const child = spawn('bash', [`${REPO_ROOT}demo/run-demo.sh`, '--duration', '20', '--plain', '--from-source'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const id = /lab ([0-9a-z]{7})/.exec(out)?.[1];
  assert.ok(id, `the demo printed its lab id:\n${out.slice(-3000)}`);
  assert.equal(code, 0, out.slice(-3000));
  assert.match(out, /PASS: every joined LAN host received its global channel with the original \(Sg,Gg\)/);
  assert.match(out, /global groups seen: 0/);
  // Teardown stops each agent with its process group (as Ctrl-C does): its curls dying of the same signal are no server failure.
  const teardown = out.slice(out.indexOf('tearing down'));
  assert.doesNotMatch(teardown, /level=(warn|error)/, `teardown logs warnings:\n${teardown}`);
  for (const host of ['h1.1', 'h2.1', 'h1.2', 'h2.2']) assert.match(out, new RegExp(`${host.replace('.', '\\.')} first packet of`));
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.ok(!netns.includes(`-${id}`), 'no namespace of the demo is left');
  assert.ok(!readdirSync('/sys/fs/bpf').includes(`mnat-lab-${id}`), 'no BPF pin of the demo is left');
});
