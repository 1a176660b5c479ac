// Starts an smcrouted inside a lab namespace, with its own identity, IPC socket
// and pid file under /run/mnat-lab, so several labs (and the host's own
// smcroute, if any) never share a daemon. Killed with the lab.
import { mkdirSync } from 'node:fs';
import type { LabProcess, Netns } from './lab.ts';

export interface Smcrouted {
  socketPath: string;
  process: LabProcess;
  /** argv prefix for smcroutectl against this daemon. */
  ctl: string[];
}

export async function startSmcrouted(ns: Netns): Promise<Smcrouted> {
  mkdirSync('/run/mnat-lab', { recursive: true });
  const ident = ns.name; // unique per lab run
  const socketPath = `/run/mnat-lab/${ident}.sock`;
  // -n: foreground, logs to stderr. Without -N, as the OpenWrt service runs it: every interface
  // is usable, also after `smcroutectl reload` (with -N a reload leaves none usable).
  const p = ns.spawn(['smcrouted', '-n', '-i', ident, '-u', socketPath, '-P', `/run/mnat-lab/${ident}.pid`, '-l', 'info']);
  await p.waitForLine(/Ready, waiting/, 10_000);
  return { socketPath, process: p, ctl: ['smcroutectl', '-u', socketPath] };
}
