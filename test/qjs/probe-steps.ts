// The qjs probes print one JSON line per step ({"step":…, "value":…}); this
// collects them from a probe's stdout into a map as they arrive.
import type { Readable } from 'node:stream';

export function collectProbeSteps(
  stdout: Readable,
  results: Map<string, unknown>,
  onOtherLine: (line: string) => void = (line) => {
    throw new Error(`probe printed a line that is not a step: ${line}`);
  },
): void {
  let pending = '';
  stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let parsed: { step: string; value: unknown };
      try {
        parsed = JSON.parse(line) as { step: string; value: unknown };
      } catch {
        onOtherLine(line);
        continue;
      }
      results.set(parsed.step, parsed.value);
    }
  });
}
