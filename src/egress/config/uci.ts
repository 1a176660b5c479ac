// A parser for OpenWrt UCI configuration files (/etc/config/*), following
// libuci's file parser so that a file `uci` accepts reads the same here:
// - commands `package`, `config TYPE ['NAME']`, `option NAME VALUE`,
//   `list NAME VALUE` (also the one-letter forms p/c/o/l), several per line
//   when separated by `;`;
// - a token is any mix of unquoted text, '…' (taken literally) and "…"
//   (backslash takes the next character literally); outside single quotes a
//   backslash at the end of a line continues the token on the next line;
// - `#` where a token would start (or inside an unquoted token) ends the line;
// - names of options and named sections: letters, digits and `_`;
// - `option` again replaces the value; `list` after `option` turns it into a
//   list that starts with the old value; `option x ''` deletes x;
// - a named section that appears twice is one section (its options merge);
// - anonymous sections get libuci's names: "cfg" + their position among all
//   sections (%02x) + the low 16 bits of the djb2 hash of their type (%04x),
//   e.g. cfg01e63d for the first section of type "defaults", and can be
//   addressed as @type[n] (n < 0 counts from the end), as `uci show` does.
// Errors are fatal (libuci's strict mode) and name file:line and the fix.

export type UciValue = string | string[];

export interface UciSection {
  readonly type: string;
  /** The given name, or libuci's generated cfgNNHHHH name for an anonymous section. */
  readonly name: string;
  readonly anonymous: boolean;
  /** Position among the sections of the same type (the n of @type[n]). */
  readonly index: number;
  /** Line of the (first) `config` command. */
  readonly line: number;
  readonly options: Readonly<Record<string, UciValue>>;
  /** Line where each option was last set. */
  readonly optionLines: Readonly<Record<string, number>>;
}

export interface UciPackage {
  readonly file: string;
  /** From a `package` command, if the file has one. */
  readonly name: string | null;
  readonly sections: readonly UciSection[];
}

export class UciError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'UciError';
  }
}

interface MutableSection {
  type: string;
  name: string;
  anonymous: boolean;
  index: number;
  line: number;
  options: Record<string, UciValue>;
  optionLines: Record<string, number>;
}

const NAME_RE = /^[A-Za-z0-9_]+$/;

function djb2Low16(text: string): number {
  let hash = 5381;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 33) + text.charCodeAt(i)) >>> 0;
  return hash & 0xffff;
}

/** The name libuci gives the n-th section (1-based, counting all sections) when it is anonymous. */
export function anonymousSectionName(position: number, type: string): string {
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  return `cfg${hex(position, 2)}${hex(djb2Low16(type), 4)}`;
}

/** One command: its words and the line it starts on. */
interface Command {
  words: string[];
  line: number;
}

/**
 * Splits the text into commands. A command ends at an unquoted `;`, at `#`
 * where a token may start, or at the end of a line not continued by `\`.
 */
function tokenize(text: string, file: string): Command[] {
  const commands: Command[] = [];
  const lines = text.split('\n');
  let words: string[] = [];
  let commandLine = 1;
  let token: string | null = null; // null: no token in progress
  let lineNo = 0;
  const endToken = (): void => {
    if (token !== null) words.push(token);
    token = null;
  };
  const endCommand = (): void => {
    endToken();
    if (words.length > 0) commands.push({ words, line: commandLine });
    words = [];
  };
  let i = 0;
  let line = '';
  const nextLine = (): boolean => {
    if (lineNo >= lines.length) return false;
    line = lines[lineNo]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    lineNo++;
    i = 0;
    return true;
  };
  while (nextLine()) {
    if (words.length === 0 && token === null) commandLine = lineNo;
    let continued = false;
    while (i < line.length) {
      const c = line[i]!;
      if (c === ' ' || c === '\t') {
        endToken();
        i++;
      } else if (c === '#') {
        break; // comment to the end of the line
      } else if (c === ';') {
        endCommand();
        commandLine = lineNo;
        i++;
      } else if (c === "'") {
        const close = line.indexOf("'", i + 1);
        if (close < 0) throw new UciError(file, lineNo, "unterminated ' (close the single quote on the same line)");
        token = (token ?? '') + line.slice(i + 1, close);
        i = close + 1;
      } else if (c === '"') {
        let value: string = token ?? '';
        i++;
        for (;;) {
          if (i >= line.length) {
            throw new UciError(file, lineNo, 'unterminated " (close the double quote, or end the line with \\ to continue it)');
          }
          const d = line[i]!;
          if (d === '"') {
            i++;
            break;
          }
          if (d === '\\') {
            if (i + 1 >= line.length) {
              // Line continuation inside the quotes: the newline is dropped.
              if (!nextLine()) throw new UciError(file, lineNo, 'unterminated " at the end of the file');
              continue;
            }
            value += line[i + 1];
            i += 2;
            continue;
          }
          value += d;
          i++;
        }
        token = value;
      } else if (c === '\\') {
        if (i + 1 >= line.length) {
          continued = true;
          break;
        }
        token = (token ?? '') + line[i + 1];
        i += 2;
      } else {
        token = (token ?? '') + c;
        i++;
      }
    }
    if (continued) {
      // A backslash at the end of a line joins the next line to this command.
      continue;
    }
    endCommand();
  }
  endCommand();
  return commands;
}

export function parseUci(text: string, fileName = 'uci'): UciPackage {
  const sections: MutableSection[] = [];
  const byName = new Map<string, MutableSection>();
  let packageName: string | null = null;
  let current: MutableSection | null = null;

  for (const { words, line } of tokenize(text, fileName)) {
    const fail = (reason: string): never => {
      throw new UciError(fileName, line, reason);
    };
    const [command = '', ...args] = words;
    const checkName = (value: string, what: string): void => {
      if (!NAME_RE.test(value)) fail(`invalid ${what} name '${value}': use only letters, digits and _`);
    };
    const atMost = (n: number, usage: string): void => {
      if (args.length > n) fail(`too many arguments to '${command}' (usage: ${usage}; quote values that contain spaces)`);
    };
    switch (command) {
      case 'package':
      case 'p': {
        atMost(1, 'package NAME');
        const name = args[0];
        if (name === undefined || name === '') return fail("'package' needs a name");
        if (!/^[A-Za-z0-9_-]+$/.test(name)) fail(`invalid package name '${name}': use only letters, digits, _ and -`);
        packageName = name;
        break;
      }
      case 'config':
      case 'c': {
        atMost(2, "config TYPE ['NAME']");
        const type = args[0];
        if (type === undefined || type === '') return fail("'config' needs a section type, e.g. config egress 'main'");
        if (!/^[\x21-\x7e]+$/.test(type)) fail(`invalid section type '${type}': use printable characters without spaces`);
        const name = args[1];
        if (name !== undefined && name !== '') {
          checkName(name, 'section');
          const existing = byName.get(name);
          if (existing) {
            // libuci: the same named section again is that section (its type may change).
            existing.type = type;
            current = existing;
            break;
          }
        }
        const anonymous = name === undefined || name === '';
        const section: MutableSection = {
          type,
          name: anonymous ? anonymousSectionName(sections.length + 1, type) : name,
          anonymous,
          index: 0,
          line,
          options: Object.create(null) as Record<string, UciValue>,
          optionLines: Object.create(null) as Record<string, number>,
        };
        sections.push(section);
        byName.set(section.name, section);
        current = section;
        break;
      }
      case 'option':
      case 'o':
      case 'list':
      case 'l': {
        const isList = command[0] === 'l';
        atMost(2, `${isList ? 'list' : 'option'} NAME 'VALUE'`);
        if (!current) return fail(`'${command}' before the first 'config' line: start a section first, e.g. config egress 'main'`);
        const name = args[0];
        if (name === undefined || name === '') return fail(`'${command}' needs a name and a value`);
        checkName(name, 'option');
        const value = args[1] ?? '';
        const previous = current.options[name];
        if (isList) {
          current.options[name] = previous === undefined ? [value] : Array.isArray(previous) ? [...previous, value] : [previous, value];
        } else if (value === '') {
          delete current.options[name];
        } else {
          current.options[name] = value;
        }
        current.optionLines[name] = line;
        break;
      }
      default:
        fail(`invalid command '${command}': a line starts with config, option, list or package (or # for a comment)`);
    }
  }
  // A named section declared again with another type changes type: count @type[n] at the end.
  const seen = new Map<string, number>();
  for (const s of sections) {
    s.index = seen.get(s.type) ?? 0;
    seen.set(s.type, s.index + 1);
  }
  return { file: fileName, name: packageName, sections };
}

/** Sections of one type, in file order. */
export function sectionsOfType(pkg: UciPackage, type: string): UciSection[] {
  return pkg.sections.filter((s) => s.type === type);
}

/** A section by name (cfgNNHHHH names included) or by @type[n] (n may be negative). */
export function findSection(pkg: UciPackage, ref: string): UciSection | undefined {
  const m = /^@([^[\]]+)\[(-?\d+)\]$/.exec(ref);
  if (m) {
    const list = sectionsOfType(pkg, m[1]!);
    const n = Number(m[2]);
    return list[n < 0 ? list.length + n : n];
  }
  return pkg.sections.find((s) => s.name === ref);
}

/** `uci show`-style lines (anonymous sections as @type[n], or cfg names with extended = true). */
export function uciShow(pkg: UciPackage, packageName: string, extended = false): string[] {
  const q = (v: string): string => `'${v.replace(/'/g, "'\\''")}'`;
  const out: string[] = [];
  for (const s of pkg.sections) {
    const ref = s.anonymous && !extended ? `@${s.type}[${s.index}]` : s.name;
    out.push(`${packageName}.${ref}=${s.type}`);
    for (const [name, value] of Object.entries(s.options)) {
      out.push(`${packageName}.${ref}.${name}=${Array.isArray(value) ? value.map(q).join(' ') : q(value)}`);
    }
  }
  return out;
}
