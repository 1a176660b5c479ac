// The region test bed: a real 3-member etcd cluster on loopback and mnat-server
// front ends (child processes, plaintext h2c) over it.
import { startEtcdCluster, type EtcdCluster } from '../../lab/etcd-cluster.ts';
import { client, req, startServer, type ServerProc } from '../server/helpers.ts';
import type { HttpTransport } from '../../src/host/host.ts';

interface After {
  after(fn: () => unknown): void;
}

export interface FrontEnd extends ServerProc {
  id: string;
  http: HttpTransport;
}

export async function startCluster(t: After): Promise<EtcdCluster> {
  return startEtcdCluster(t);
}

/** One front end over the cluster; extra flags after the region's. */
export async function startFrontEnd(t: After, cluster: EtcdCluster, id: string, extra: string[] = [], region = 'default'): Promise<FrontEnd> {
  const server = await startServer(t, ['--insecure', '--store', cluster.url(region), '--frontend-id', id, '--frontend-lease', '2', ...extra]);
  return Object.assign(server, { id, http: client(t, server.origin) });
}

/** A metric's value from /metrics (the first sample whose name and labels start with `series`). */
export async function metric(fe: FrontEnd, series: string): Promise<number | null> {
  const res = await req(fe.http, 'GET', '/metrics');
  for (const line of res.body.split('\n')) {
    if (line.startsWith(series) && (line[series.length] === ' ' || line[series.length] === '{' || series.endsWith('}'))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

export const assignedPath = (id: string): string => `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`;
export const joinedPath = (id: string): string => `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`;

/** The watcher's mapped-sg list as this front end answers it. */
export async function mappings(fe: FrontEnd, id: string): Promise<Array<Record<string, any>>> {
  const res = await req(fe.http, 'GET', assignedPath(id));
  if (res.status !== 200) throw new Error(`GET assigned-channels on ${fe.id}: ${res.status} ${res.body}`);
  return res.json['ietf-mnat:watcher'][0]['mapped-sg'] ?? [];
}

export async function refresh(fe: FrontEnd, id: string): Promise<number> {
  return (await req(fe.http, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': id } })).status;
}
