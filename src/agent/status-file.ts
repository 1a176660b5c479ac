// An agent's status file: JSON, replaced atomically (readers never see half a
// file), written soon after a change (changes close together make one write)
// or at once, and removed when the agent stops, which is how `status` tells
// that it is not running. A failing write is logged once until one works.
import type { Host } from '../host/host.ts';

export interface StatusFile {
  /** Something changed: write within the delay (one write for many changes). */
  changed(): void;
  /** Write now. */
  write(): void;
  /** Write to another path from now on; the old file is removed. */
  moveTo(path: string): void;
  /** Stop writing and remove the file. */
  close(): void;
}

export function createStatusFile(host: Host, path: string, render: () => unknown, delayMs = 100): StatusFile {
  let timer: ReturnType<Host['setTimeout']> | null = null;
  let failed = false;
  let closed = false;
  const write = (): void => {
    if (closed) return;
    try {
      const dir = path.slice(0, path.lastIndexOf('/'));
      if (dir) host.makeDirectory(dir);
      host.writeFileAtomic(path, JSON.stringify(render(), null, 1) + '\n');
      failed = false;
    } catch (err) {
      if (!failed) host.log.warn('cannot write the status file', { file: path, error: (err as Error).message });
      failed = true;
    }
  };
  return {
    write,
    changed() {
      if (closed || timer) return;
      timer = host.setTimeout(() => {
        timer = null;
        write();
      }, delayMs);
    },
    moveTo(next) {
      host.removeFile(path);
      path = next;
      failed = false;
    },
    close() {
      closed = true;
      if (timer) host.clearTimeout(timer);
      timer = null;
      host.removeFile(path);
    },
  };
}
