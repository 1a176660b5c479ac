// A small filesystem that can be filled: a tmpfs of a given size mounted in a
// private mount namespace held by a sleeping process, so that it outlives the
// processes run on it (a server can be killed and restarted on the same full
// disk) and vanishes with the holder (nothing is mounted on the host). The
// host reaches the files through /proc/<holder>/root. Needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, rmdirSync, writeSync, ftruncateSync, fstatSync, unlinkSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallDisk {
  /** The mount point, as the processes run in it see it. */
  readonly dir: string;
  /** The prefix that runs a command in the disk's mount namespace. */
  readonly enter: string[];
  /** A path inside the disk, as this (host) process reaches it. */
  hostPath(name?: string): string;
  /** Names in the disk's top directory, or in a subdirectory. */
  list(sub?: string): string[];
  /** Fills the disk, leaving about `leaveBytes` free (in whole pages). */
  fill(leaveBytes?: number): void;
  /** Removes the filler. */
  free(): void;
  /** Ends the holder: the namespace and the tmpfs go with it. */
  close(): Promise<void>;
}

const FILLER = 'filler';

/** Mounts a tmpfs of `sizeBytes`; rejects when namespaces or mounts are not allowed (not root). */
export async function smallDisk(sizeBytes: number): Promise<SmallDisk> {
  const dir = mkdtempSync(join(tmpdir(), 'mnat-small-disk-'));
  const holder: ChildProcess = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=${sizeBytes} mnat-small-disk '${dir}' && echo ready && exec sleep 100000`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  holder.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((r) => holder.once('exit', () => r()));
  const ready = await new Promise<boolean>((resolve) => {
    holder.stdout!.once('data', () => resolve(true));
    holder.once('exit', () => resolve(false));
  });
  if (!ready) {
    rmdirSync(dir);
    throw new Error(`cannot mount a tmpfs in a private mount namespace: ${err.trim() || 'unshare failed'}`);
  }
  const pid = holder.pid as number;
  const hostPath = (name = ''): string => join(`/proc/${pid}/root`, dir, name);
  return {
    dir,
    enter: ['nsenter', '-t', String(pid), '-m', '--'],
    hostPath,
    list: (sub = '') => readdirSync(hostPath(sub)).sort(),
    fill(leaveBytes = 0) {
      const fd = openSync(hostPath(FILLER), 'a');
      try {
        // Fill every page: large writes first, then ever smaller ones.
        for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
          const chunk = Buffer.alloc(size);
          for (;;) {
            try {
              writeSync(fd, chunk);
            } catch {
              break;
            }
          }
        }
        if (leaveBytes > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - leaveBytes));
      } finally {
        closeSync(fd);
      }
    },
    free() {
      try {
        unlinkSync(hostPath(FILLER));
      } catch {
        // not there
      }
    },
    async close() {
      holder.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
