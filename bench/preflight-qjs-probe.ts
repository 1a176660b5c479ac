// Runs under qjs (bundled by agent-preflight.bench.ts): times the egress's
// start-up check N times and prints one JSON line per run: the tool probes
// alone (what the check adds to a start; next to six `true` execs side by side,
// the machine's floor for as many processes) and the whole check with the
// translator load (which the agent did at its first attach before).
// argv: <BPF object> <runs>
import * as std from 'std';
import { checkPrerequisites } from '../src/agent/preflight.ts';
import { createTranslator, type Translator } from '../src/dataplane/translator.ts';
import { createQuickjsHost } from '../src/host/quickjs-host.ts';

declare const scriptArgs: string[];

const [, objectPath = '', runs = '10'] = scriptArgs;
const host = createQuickjsHost('preflight-bench', 'warn');
const needs = { ip: true, bridge: true, curl: true, smcroute: true };
const noLoad = { load: async () => undefined, detach: async () => undefined } as unknown as Translator;
const report = (line: string): void => std.err.puts(`missing: ${line}\n`);

async function main(): Promise<void> {
  for (let i = 0; i < Number(runs); i++) {
    let t0 = host.now();
    await Promise.all(['1', '2', '3', '4', '5', '6'].map(() => host.exec(['true'])));
    const floorMs = host.now() - t0;
    t0 = host.now();
    const probesOk = await checkPrerequisites(host, noLoad, needs, report);
    const probesMs = host.now() - t0;
    const translator = createTranslator(host, { objectPath, instance: 'bench' });
    t0 = host.now();
    const allOk = await checkPrerequisites(host, translator, needs, report);
    const withLoadMs = host.now() - t0;
    await translator.detach();
    std.out.puts(JSON.stringify({ probesOk, allOk, floorMs, probesMs, withLoadMs }) + '\n');
    std.out.flush();
  }
}

main().catch((err: Error) => {
  std.err.puts(`${err.message}\n`);
  std.exit(1);
});
