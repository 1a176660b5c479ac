// The control file: the prototype's joinfile format as a membership input for
// scripted setups and bump-in-the-host use. One "source,group" per line,
// "#" starts a comment (whole line or trailing), blank lines are ignored.
// A bad line is reported with file:line and skipped; the rest still counts.
import { canonicalChannel, channelKey, type Channel } from '../../core/channel.ts';

export interface ControlFileProblem {
  /** 1-based line number. */
  readonly line: number;
  readonly text: string;
  /** "file:line: what is wrong (what to do)", ready for the log. */
  readonly message: string;
}

export interface ControlFile {
  /** Valid channels, de-duplicated, in file order. */
  readonly channels: Channel[];
  /** Line numbers per channel key (for logs: which line asked for it). */
  readonly lines: Map<string, number[]>;
  readonly problems: ControlFileProblem[];
}

export function parseControlFile(text: string, fileName = 'control file'): ControlFile {
  const channels: Channel[] = [];
  const lines = new Map<string, number[]>();
  const problems: ControlFileProblem[] = [];
  const rows = text.split(/\r?\n/);
  rows.forEach((raw, i) => {
    const lineNo = i + 1;
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === '') return;
    const problem = (what: string): void => {
      problems.push({ line: lineNo, text: raw, message: `${fileName}:${lineNo}: ${what}; line skipped` });
    };
    const parts = body.split(',');
    if (parts.length !== 2) {
      problem(`expected "source,group", got "${body}"`);
      return;
    }
    let channel: Channel;
    try {
      channel = canonicalChannel(parts[0]!.trim(), parts[1]!.trim());
    } catch (err) {
      problem((err as Error).message);
      return;
    }
    const key = channelKey(channel);
    const seen = lines.get(key);
    if (seen) {
      seen.push(lineNo);
      return;
    }
    lines.set(key, [lineNo]);
    channels.push(channel);
  });
  return { channels, lines, problems };
}
