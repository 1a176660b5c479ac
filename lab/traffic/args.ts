// A tiny strict --flag parser for the traffic tools (no dependency on the agents' parser).
export type Flags = Map<string, string>;

export function parseFlags(argv: readonly string[], known: Record<string, 'value' | 'bool'>, usage: string): Flags {
  const out: Flags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage + '\n');
      process.exit(0);
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    const kind = m ? known[m[1]!] : undefined;
    if (!m || kind === undefined) fail(`unknown argument "${arg}"`, usage);
    if (kind === 'bool') out.set(m[1]!, 'true');
    else {
      const value = m[2] ?? argv[++i];
      if (value === undefined) fail(`--${m[1]} needs a value`, usage);
      out.set(m[1]!, value);
    }
  }
  return out;
}

export function fail(message: string, usage?: string): never {
  process.stderr.write(`error: ${message}${usage ? '\n' + usage : ''}\n`);
  process.exit(2);
}

export function numberFlag(flags: Flags, name: string, dflt: number | undefined, min = 0): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) fail(`--${name} must be a number >= ${min}, got "${v}"`);
  return n;
}

/** The first address of dev in the given family, from this namespace's interfaces. */
export async function interfaceAddress(dev: string, family: 4 | 6): Promise<string> {
  const { networkInterfaces } = await import('node:os');
  const list = networkInterfaces()[dev];
  if (!list) fail(`interface ${dev} does not exist in this network namespace`);
  const a = list.find((x) => (family === 4 ? x.family === 'IPv4' : x.family === 'IPv6'));
  if (!a) fail(`interface ${dev} has no IPv${family} address`);
  return a.address;
}

export function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ event, t: Date.now(), ...fields }) + '\n');
}
