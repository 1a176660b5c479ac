// The `config egress` section of /etc/config/mnat → the egress's file
// settings (EgressFileSettings in egress-options.ts, where flags are laid over
// them and the values are checked against each other). Here each option is
// checked on its own: its type (boolean, number, one of a set), that it is an
// option and not a list; every error names file:line, the option and what to
// write instead. Unknown options are warnings (with a did-you-mean), so a
// typo does not go unnoticed and a newer config still loads.
import { CliError } from '../../core/cli-args.ts';
import type { EgressFileSettings } from './egress-options.ts';
import { parseUci, sectionsOfType, UciError, type UciPackage, type UciSection } from './uci.ts';

export class EgressConfigError extends CliError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly option: string | null,
    reason: string,
  ) {
    super(`${file}:${line}: ${option ? `option ${option}: ` : ''}${reason}`);
  }
}

export interface EgressUciConfig {
  readonly settings: EgressFileSettings;
  /** `option enabled` (default true when absent: the section exists to be used). */
  readonly enabled: boolean;
  /** The section's name (cfgNNHHHH when anonymous) and line, for messages. */
  readonly section: string;
  readonly line: number;
  readonly warnings: readonly string[];
}

/** UCI option name → [what it is, the EgressFileSettings key it sets]. */
const OPTIONS = {
  enabled: ['boolean', 'enabled'],
  server: ['string', 'server'],
  port: ['port', 'port'],
  cacert: ['path', 'cacert'],
  cert: ['path', 'cert'],
  key: ['path', 'key'],
  insecure: ['boolean', 'insecure'],
  upstream: ['string', 'upstream'],
  downstream: ['string', 'downstream'],
  membership: ['membership', 'membership'],
  control_file: ['path', 'controlFile'],
  join_backend: ['backend', 'joinBackend'],
  max_channels: ['count', 'maxChannels'],
  log_level: ['level', 'logLevel'],
  status_file: ['path', 'statusFile'],
  api_root: ['root', 'apiRoot'],
  mqtt: ['string', 'mqtt'],
} as const satisfies Record<string, readonly [string, keyof EgressFileSettings]>;

type OptionName = keyof typeof OPTIONS;

const TRUE = ['1', 'yes', 'on', 'true', 'enabled'];
const FALSE = ['0', 'no', 'off', 'false', 'disabled'];
/** UCI words (bridge, control-file) and the flag words (mdb, file) are both accepted. */
const MEMBERSHIP: Record<string, 'mdb' | 'file' | 'both'> = {
  bridge: 'mdb',
  mdb: 'mdb',
  'control-file': 'file',
  control_file: 'file',
  file: 'file',
  both: 'both',
};

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function suggestion(name: string): string {
  let best: string | null = null;
  let bestDistance = 3;
  for (const known of Object.keys(OPTIONS)) {
    const d = editDistance(name, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean ${best}?)` : '';
}

/** Picks the egress section: `config egress` (one per file). */
function egressSection(pkg: UciPackage): UciSection {
  const sections = sectionsOfType(pkg, 'egress');
  if (sections.length === 0) {
    throw new EgressConfigError(pkg.file, 1, null, "no 'config egress' section: add one, e.g. config egress 'egress' with option server and option upstream/downstream");
  }
  if (sections.length > 1) {
    throw new EgressConfigError(
      pkg.file,
      sections[1]!.line,
      null,
      `a second 'config egress' section (the first is at line ${sections[0]!.line}); one egress per file: merge them or delete one`,
    );
  }
  return sections[0]!;
}

export function egressConfigFromUci(pkg: UciPackage): EgressUciConfig {
  const section = egressSection(pkg);
  const warnings: string[] = [];
  const settings: EgressFileSettings = {};
  let enabled = true;

  for (const [name, value] of Object.entries(section.options)) {
    const line = section.optionLines[name] ?? section.line;
    if (!(name in OPTIONS)) {
      warnings.push(`${pkg.file}:${line}: unknown option '${name}' in config egress, ignored${suggestion(name)}`);
      continue;
    }
    const fail = (reason: string): never => {
      throw new EgressConfigError(pkg.file, line, name, reason);
    };
    if (Array.isArray(value)) fail(`is a list; write it as one 'option ${name} …' line`);
    const text = (value as string).trim();
    const [kind, key] = OPTIONS[name as OptionName];
    let parsed: string | number | boolean = text;
    switch (kind) {
      case 'boolean':
        if (TRUE.includes(text)) parsed = true;
        else if (FALSE.includes(text)) parsed = false;
        else fail(`'${text}' is not a boolean; use '1' or '0'`);
        break;
      case 'port':
      case 'count': {
        const max = kind === 'port' ? 65535 : 4096;
        const min = kind === 'port' ? 1 : 0;
        const n = /^\d+$/.test(text) ? Number(text) : NaN;
        if (!(n >= min && n <= max)) fail(`'${text}' is not a whole number from ${min} to ${max}`);
        parsed = n;
        break;
      }
      case 'path':
        if (!text.startsWith('/')) fail(`'${text}' is not an absolute path; write the full path, e.g. /etc/mnat/${name === 'control_file' ? 'channels' : name + '.pem'}`);
        break;
      case 'membership': {
        const m = MEMBERSHIP[text];
        if (!m) fail(`'${text}' is not bridge, control-file or both`);
        parsed = m!;
        break;
      }
      case 'backend':
        if (text !== 'smcroute' && text !== 'socket') fail(`'${text}' is not smcroute or socket`);
        break;
      case 'level':
        if (text === 'warning') parsed = 'warn';
        else if (!['debug', 'info', 'warn', 'error'].includes(text)) fail(`'${text}' is not debug, info, warn or error`);
        break;
      case 'root':
        if (!text.startsWith('/')) fail(`'${text}' must start with /, e.g. /restconf`);
        break;
      case 'string':
        if (text === '') fail('is empty');
        if (/\s/.test(text)) fail(`'${text}' contains white space`);
        break;
    }
    (settings as Record<string, unknown>)[key] = parsed;
    if (key === 'enabled') enabled = parsed as boolean;
  }
  return { settings, enabled, section: section.name, line: section.line, warnings };
}

/** Parses a UCI file's text and maps its egress section; every problem is an EgressConfigError (a CliError: exit 2). */
export function readEgressUci(text: string, fileName: string): EgressUciConfig {
  let pkg: UciPackage;
  try {
    pkg = parseUci(text, fileName);
  } catch (e) {
    if (e instanceof UciError) throw new EgressConfigError(e.file, e.line, null, e.reason);
    throw e;
  }
  return egressConfigFromUci(pkg);
}
