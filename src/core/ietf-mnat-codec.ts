// ietf-mnat RFC 7951 JSON codec. API SKELETON: implementation follows.
import type { JoinedSg, MappedChannel, Monitor } from './mnat-state.ts';

export const MODULE = 'ietf-mnat';
export const IDENTITY_ASSIGNED = 'ietf-mnat:assigned-local-multicast';
export const IDENTITY_UNASSIGNED = 'ietf-mnat:unassigned';

/** RESTCONF error-tags a codec failure maps to. */
export type CodecErrorTag = 'malformed-message' | 'invalid-value' | 'unknown-element' | 'missing-element' | 'bad-element';

export class CodecError extends Error {
  override readonly name = 'CodecError';
  /** e.g. "/ietf-mnat:watcher[0]/joined-sg[2]/group" */
  readonly path: string;
  readonly tag: CodecErrorTag;
  constructor(path: string, message: string, tag: CodecErrorTag = 'invalid-value') {
    super(`${path}: ${message}`);
    this.path = path;
    this.tag = tag;
  }
}

export interface CodecLimits {
  /** Sanity cap on any list (the per-watcher join limit belongs to MnatState). Default 4096. */
  maxListEntries?: number;
  /** Cap on id strings. Default 256. */
  maxIdLength?: number;
}

export interface EgressWatcherData {
  id: string | undefined;
  joins: JoinedSg[];
}
export interface IngressWatcherData {
  id: string | undefined;
  monitors: Monitor[];
}
export interface AssignedWatcherData {
  id: string | undefined;
  channels: MappedChannel[];
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export declare function parseJson(text: string): unknown;

export declare function decodeEgressWatchers(body: unknown, limits?: CodecLimits): EgressWatcherData[];
export declare function decodeEgressWatcher(body: unknown, expectedId: string, limits?: CodecLimits): JoinedSg[];
export declare function decodeIngressWatchers(body: unknown, limits?: CodecLimits): IngressWatcherData[];
export declare function decodeIngressWatcher(body: unknown, expectedId: string, limits?: CodecLimits): Monitor[];
export declare function decodeAssignedChannels(body: unknown, limits?: CodecLimits): AssignedWatcherData[];

export declare function encodeEgressWatcher(id: string, joins: readonly JoinedSg[]): Json;
export declare function encodeEgressGlobalJoined(watchers: ReadonlyArray<{ id: string; joins: readonly JoinedSg[] }>): Json;
export declare function encodeIngressWatcher(id: string, monitors: readonly Monitor[]): Json;
export declare function encodeIngressWatching(watchers: ReadonlyArray<{ id: string; monitors: readonly Monitor[] }>): Json;
export declare function encodeMappedSg(channel: MappedChannel): Json;
export declare function encodeAssignedChannelsWatcher(id: string, channels: readonly MappedChannel[]): Json;
export declare function encodeAssignedChannels(watchers: ReadonlyArray<{ id: string; channels: readonly MappedChannel[] }>): Json;

export declare function encodeGetNewWatcherIdOutput(watcherId: string, refreshPeriodS: number, options?: { prototype?: boolean }): Json;
export declare function decodeGetNewWatcherIdOutput(body: unknown): { watcherId: string; refreshPeriodS: number };
export declare function encodeRefreshWatcherIdInput(watcherId: string): Json;
export declare function decodeRefreshWatcherIdInput(body: unknown, limits?: CodecLimits): { watcherId: string };
export declare function encodeRefreshWatcherIdOutput(refreshPeriodS: number): Json;
export declare function decodeRefreshWatcherIdOutput(body: unknown): { refreshPeriodS: number };
