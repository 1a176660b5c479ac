// A tiny strict command-line flag parser shared by mnat-server, mnat-ingress
// and mnat-egress (Node and QuickJS): `--flag value`, `--flag=value`,
// repeatable flags, booleans, `--help`. Anything unknown or malformed is a
// CliError whose message names the flag, so a command can print one line and
// exit 2.

export type FlagKind = 'string' | 'number' | 'boolean' | 'list';

export interface FlagSpec {
  /** Without the leading dashes, e.g. "refresh-period". */
  readonly name: string;
  readonly kind: FlagKind;
  readonly help: string;
  /** Placeholder shown in usage, e.g. "FILE" (default: VALUE / N). */
  readonly value?: string;
  readonly default?: string | number | boolean;
  /** number flags: inclusive bounds and integer-only (default true). */
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

export class CliError extends Error {
  override name = 'CliError';
}

export interface ParsedArgs {
  /** True when --help or -h was given (other errors are still reported first). */
  readonly help: boolean;
  readonly positionals: readonly string[];
  /** Flags given explicitly on the command line. */
  has(name: string): boolean;
  string(name: string): string | undefined;
  number(name: string): number | undefined;
  boolean(name: string): boolean;
  list(name: string): readonly string[];
}

function parseNumber(spec: FlagSpec, text: string): number {
  const value = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(value)) throw new CliError(`--${spec.name}: "${text}" is not a number`);
  if (spec.integer !== false && !Number.isInteger(value)) {
    throw new CliError(`--${spec.name}: "${text}" is not a whole number`);
  }
  if (spec.min !== undefined && value < spec.min) throw new CliError(`--${spec.name}: ${text} is below the minimum ${spec.min}`);
  if (spec.max !== undefined && value > spec.max) throw new CliError(`--${spec.name}: ${text} is above the maximum ${spec.max}`);
  return value;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) byName.set(spec.name, spec);
  const values = new Map<string, string | number | boolean | string[]>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1) throw new CliError(`unknown option ${arg} (flags are spelled --name; see --help)`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let spec = byName.get(name);
    let negated = false;
    if (!spec && name.startsWith('no-')) {
      const base = byName.get(name.slice(3));
      if (base && base.kind === 'boolean') {
        spec = base;
        negated = true;
      }
    }
    if (!spec) throw new CliError(`unknown option --${name} (see --help)`);
    if (spec.kind === 'boolean') {
      if (inline === undefined) {
        values.set(spec.name, !negated);
      } else if (!negated && /^(true|yes|1|on)$/i.test(inline)) {
        values.set(spec.name, true);
      } else if (!negated && /^(false|no|0|off)$/i.test(inline)) {
        values.set(spec.name, false);
      } else {
        throw new CliError(`--${name}: "${inline}" is not a boolean (use --${spec.name} or --no-${spec.name})`);
      }
      continue;
    }
    if (inline === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new CliError(`--${name} needs a value${spec.value ? ` (${spec.value})` : ''}`);
      }
      inline = next;
      i++;
    }
    if (spec.kind === 'number') {
      if (values.has(spec.name)) throw new CliError(`--${name} given more than once`);
      values.set(spec.name, parseNumber(spec, inline));
    } else if (spec.kind === 'list') {
      const list = (values.get(spec.name) as string[] | undefined) ?? [];
      list.push(inline);
      values.set(spec.name, list);
    } else {
      if (values.has(spec.name)) throw new CliError(`--${name} given more than once`);
      values.set(spec.name, inline);
    }
  }
  const specOf = (name: string, kind: FlagKind): FlagSpec => {
    const spec = byName.get(name);
    if (!spec || spec.kind !== kind) throw new Error(`internal: no ${kind} flag --${name}`);
    return spec;
  };
  /** The value given on the command line, else the flag's default. */
  const valueOf = (name: string, kind: FlagKind): unknown => {
    const spec = specOf(name, kind);
    return values.get(name) ?? spec.default;
  };
  return {
    help,
    positionals,
    has: (name) => values.has(name),
    string: (name) => valueOf(name, 'string') as string | undefined,
    number: (name) => valueOf(name, 'number') as number | undefined,
    boolean: (name) => valueOf(name, 'boolean') === true,
    list(name) {
      specOf(name, 'list');
      return (values.get(name) as string[] | undefined) ?? [];
    },
  };
}

/** The usage text: a summary line, then one aligned line per flag. */
export function formatUsage(command: string, summary: string, specs: readonly FlagSpec[]): string {
  const left = (spec: FlagSpec): string => {
    if (spec.kind === 'boolean') return `--${spec.name}`;
    const placeholder = spec.value ?? (spec.kind === 'number' ? 'N' : 'VALUE');
    return `--${spec.name} ${placeholder}`;
  };
  const width = Math.max(10, ...specs.map((s) => left(s).length)) + 2;
  const lines = [`usage: ${command} [options]`, '', summary, '', 'options:'];
  for (const spec of specs) {
    let text = spec.help;
    if (spec.default !== undefined && spec.kind !== 'boolean') text += ` (default ${String(spec.default)})`;
    if (spec.kind === 'list') text += ' (repeatable)';
    lines.push(`  ${left(spec).padEnd(width)}${text}`);
  }
  lines.push(`  ${'--help'.padEnd(width)}print this help and exit`);
  return lines.join('\n') + '\n';
}
