// The agents' start-up check: which tools each agent probes, how a probe's
// output is judged (outputs recorded from the real tools on Debian 12), and
// that every missing piece is one line naming its OpenWrt package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkPrerequisites, probesFor, probeVerdict, type Probe } from '../../src/agent/preflight.ts';
import type { ExecOptions, ExecResult, Host } from '../../src/host/host.ts';
import type { Translator } from '../../src/dataplane/translator.ts';

const fixture = (name: string): string => readFileSync(new URL(`fixtures/preflight/${name}`, import.meta.url), 'utf8');
const TC_OK = fixture('tc-batch-help.txt');
const CURL_OK = fixture('curl-V.txt');
const BPFTOOL_OK = '[{"command":["map","help"],"output":null},{"command":["prog","help"],"output":null}]\n';

const probe = (tool: string, needs = { ip: true, bridge: true, curl: true, smcroute: true }): Probe => {
  const p = probesFor(needs).find((x) => x[0][0] === tool);
  assert.ok(p, `a probe for ${tool}`);
  return p;
};

test('probes: tc and bpftool always; ip, bridge, curl, smcroutectl only when needed', () => {
  assert.deepEqual(probesFor({}).map((p) => p[0][0]), ['tc', 'bpftool']);
  assert.deepEqual(probesFor({ ip: true, bridge: true, curl: true, smcroute: true }).map((p) => p[0][0]), ['tc', 'bpftool', 'ip', 'bridge', 'curl', 'smcroutectl']);
});

test('tc: the clsact qdisc and a bpf filter that takes pinned objects; tc-tiny-like output or no tc is one line', () => {
  const tc = probe('tc');
  assert.equal(probeVerdict(tc, 0, TC_OK), null);
  const noBpf = 'What is "help"?\nUsage: ... clsact\nCommand failed -:1\nUnknown filter "bpf", hence option "help" is unparsable\n';
  assert.equal(probeVerdict(tc, 0, noBpf), 'tc: no clsact or bpf support; install tc-bpf or tc-full (OpenWrt)');
  const noClsact = 'Unknown qdisc "clsact", hence option "help" is unparsable\n' + TC_OK.slice(TC_OK.indexOf('Usage: ... bpf'));
  assert.match(probeVerdict(tc, 1, noClsact) ?? '', /^tc: no clsact or bpf support/);
  assert.equal(probeVerdict(tc, 127, ''), 'tc: not found; install tc-bpf or tc-full (OpenWrt)');
});

test('bpftool: batch with map and prog; curl: HTTP2 in its Features line; the others: present', () => {
  assert.equal(probeVerdict(probe('bpftool'), 0, BPFTOOL_OK), null);
  assert.equal(probeVerdict(probe('bpftool'), 255, 'Error: unknown object batch\n'), 'bpftool: no batch, map or prog support; install bpftool-minimal or bpftool-full (OpenWrt)');
  assert.equal(probeVerdict(probe('curl'), 0, CURL_OK), null);
  const noHttp2 = CURL_OK.replace(/ HTTP2\b/, '').replace(/nghttp2\/\S+ /, '');
  assert.equal(probeVerdict(probe('curl'), 0, noHttp2), 'curl: no HTTP/2 support; install curl with a libcurl built with LIBCURL_NGHTTP2 (OpenWrt)');
  assert.equal(probeVerdict(probe('ip'), 0, 'ip utility, iproute2-6.1.0, libbpf 1.1.2\n'), null);
  assert.equal(probeVerdict(probe('ip'), 1, 'BusyBox v1.36.1 multi-call binary.\n\nUsage: ip [OPTIONS] address|route|link|tunnel|neigh|rule [ARGS]\n'), 'ip: no iproute2 -j support; install ip-tiny or ip-full (OpenWrt)');
  assert.equal(probeVerdict(probe('bridge'), 0, 'bridge utility, 6.1.0\n'), null);
  assert.equal(probeVerdict(probe('bridge'), 127, ''), 'bridge: not found; install ip-bridge (OpenWrt)');
  assert.equal(probeVerdict(probe('smcroutectl'), 0, 'SMCRoute v2.5.6\n'), null);
  assert.equal(probeVerdict(probe('smcroutectl'), 127, ''), 'smcroutectl: not found; install smcroute (OpenWrt)');
});

function fakeHost(results: Record<string, ExecResult>): { host: Host; calls: Array<{ argv: readonly string[]; options?: ExecOptions }> } {
  const calls: Array<{ argv: readonly string[]; options?: ExecOptions }> = [];
  const host = {
    exec: async (argv: readonly string[], options?: ExecOptions) => {
      calls.push({ argv, ...(options ? { options } : {}) });
      return results[argv[0] as string] ?? { code: 127, stdout: '', stderr: '' };
    },
  } as unknown as Host;
  return { host, calls };
}

function fakeTranslator(loadError: Error | null): { translator: Translator; log: string[] } {
  const log: string[] = [];
  const translator = {
    load: async () => {
      log.push('load');
      if (loadError) throw loadError;
    },
    detach: async () => void log.push('detach'),
  } as unknown as Translator;
  return { translator, log };
}

const ALL_OK: Record<string, ExecResult> = {
  tc: { code: 0, stdout: '', stderr: TC_OK },
  bpftool: { code: 0, stdout: BPFTOOL_OK, stderr: '' },
  ip: { code: 0, stdout: 'ip utility, iproute2-6.1.0\n', stderr: '' },
  bridge: { code: 0, stdout: 'bridge utility, 6.1.0\n', stderr: '' },
  curl: { code: 0, stdout: CURL_OK, stderr: '' },
  smcroutectl: { code: 0, stdout: 'SMCRoute v2.5.6\n', stderr: '' },
};
const EVERYTHING = { ip: true, bridge: true, curl: true, smcroute: true };

test('all there: every probe runs once, bounded, the translator is loaded and stays loaded, nothing reported', async () => {
  const { host, calls } = fakeHost(ALL_OK);
  const { translator, log } = fakeTranslator(null);
  const lines: string[] = [];
  assert.equal(await checkPrerequisites(host, translator, EVERYTHING, (l) => lines.push(l)), true);
  assert.deepEqual(lines, []);
  assert.deepEqual(calls.map((c) => c.argv[0]), ['tc', 'bpftool', 'ip', 'bridge', 'curl', 'smcroutectl']);
  for (const c of calls) assert.ok((c.options?.timeoutMs ?? 0) > 0, `${c.argv[0]} has a timeout`);
  assert.deepEqual(log, ['load']);
});

test('several missing: one line each, in probe order, then the load failure; the loaded state is removed', async () => {
  const { host } = fakeHost({ ...ALL_OK, tc: { code: 127, stdout: '', stderr: '' }, curl: { code: 0, stdout: 'curl 8.0\nFeatures: IPv6 SSL\n', stderr: '' } });
  const { translator, log } = fakeTranslator(new Error('bpffs: /sys/fs/bpf/mnat is on sysfs, not bpffs; mount it: mount -t bpf bpf /sys/fs/bpf'));
  const lines: string[] = [];
  assert.equal(await checkPrerequisites(host, translator, EVERYTHING, (l) => lines.push(l)), false);
  assert.deepEqual(lines, [
    'tc: not found; install tc-bpf or tc-full (OpenWrt)',
    'curl: no HTTP/2 support; install curl with a libcurl built with LIBCURL_NGHTTP2 (OpenWrt)',
    'bpffs: /sys/fs/bpf/mnat is on sysfs, not bpffs; mount it: mount -t bpf bpf /sys/fs/bpf',
  ]);
  assert.deepEqual(log, ['load', 'detach']);
});

test('no bpftool: its line, and no load attempt (the load needs bpftool)', async () => {
  const { host } = fakeHost({ ...ALL_OK, bpftool: { code: 127, stdout: '', stderr: '' } });
  const { translator, log } = fakeTranslator(null);
  const lines: string[] = [];
  assert.equal(await checkPrerequisites(host, translator, {}, (l) => lines.push(l)), false);
  assert.deepEqual(lines, ['bpftool: not found; install bpftool-minimal or bpftool-full (OpenWrt)']);
  assert.deepEqual(log, []);
});
