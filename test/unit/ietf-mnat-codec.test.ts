import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CodecError,
  IDENTITY_ASSIGNED,
  IDENTITY_UNASSIGNED,
  decodeAssignedChannels,
  decodeEgressWatcher,
  decodeEgressWatchers,
  decodeGetNewWatcherIdOutput,
  decodeIngressWatcher,
  decodeIngressWatchers,
  decodeMappedSg,
  decodeRefreshWatcherIdInput,
  decodeRefreshWatcherIdOutput,
  encodeAssignedChannels,
  encodeAssignedChannelsWatcher,
  encodeAssignedChannelsWatcherText,
  encodeEgressGlobalJoined,
  encodeEgressWatcher,
  encodeGetNewWatcherIdOutput,
  encodeIngressWatcher,
  encodeIngressWatching,
  encodeRefreshWatcherIdInput,
  encodeRefreshWatcherIdOutput,
  parseJson,
} from '../../src/protocol/ietf-mnat-codec.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';

function codecError(fn: () => unknown, path: string, message: RegExp, tag?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CodecError, `expected CodecError, got ${String(e)}`);
    assert.equal(e.path, path);
    assert.match(e.message, message);
    if (tag) assert.equal(e.tag, tag);
    return true;
  });
}

const W = 'ietf-mnat:watcher';
const egress = (joins: unknown[], id: unknown = 'w1') => ({ [W]: [{ id, 'joined-sg': joins }] });

test('egress watcher: list form, prototype single-object form, container form, qualified inner names', () => {
  const list = decodeEgressWatchers(egress([{ id: '1', source: '23.212.185.4', group: '232.1.1.1' }]));
  assert.deepEqual(list, [{ id: 'w1', joins: [{ id: '1', channel: { source: '23.212.185.4', group: '232.1.1.1' } }] }]);
  const proto = decodeEgressWatcher(
    { [W]: { 'ietf-mnat:id': 'w1', 'ietf-mnat:joined-sg': { 'ietf-mnat:id': 'x', source: '2001:DB8:0::1', group: 'FF3E:0::8000:1' } } },
    'w1',
  );
  assert.deepEqual(proto, [{ id: 'x', channel: { source: '2001:db8::1', group: 'ff3e::8000:1' } }], 'canonicalised (RFC 5952)');
  const container = decodeEgressWatchers({ 'ietf-mnat:egress-global-joined': { watcher: [{ id: 'a' }, { id: 'b', 'joined-sg': [] }] } });
  assert.deepEqual(container, [
    { id: 'a', joins: [] },
    { id: 'b', joins: [] },
  ]);
  // a joined-sg without its key gets "source,group" as id (lenient for simple clients)
  assert.deepEqual(decodeEgressWatcher({ [W]: [{ 'joined-sg': [{ source: '10.0.0.1', group: '232.0.0.1' }] }] }, 'w9'), [
    { id: '10.0.0.1,232.0.0.1', channel: { source: '10.0.0.1', group: '232.0.0.1' } },
  ]);
});

test('egress validation names the bad field', () => {
  const j = (o: Record<string, unknown>) => () => decodeEgressWatchers(egress([{ id: '1', source: '10.0.0.1', group: '232.0.0.1' }, { id: '2', ...o }]));
  const p = '/ietf-mnat:watcher[0]/joined-sg[1]';
  codecError(j({ source: '10.0.0.1', group: '10.0.0.2' }), `${p}/group`, /group 10.0.0.2 is not a multicast address/, 'invalid-value');
  codecError(j({ source: '10.0.0.300', group: '232.0.0.1' }), `${p}/source`, /not an IPv4 or IPv6 address/);
  codecError(j({ source: '232.0.0.9', group: '232.0.0.1' }), `${p}/source`, /not a unicast address/);
  codecError(j({ source: '2001:db8::1', group: '232.0.0.1' }), `${p}/source`, /IPv6 but group 232.0.0.1 is IPv4/);
  codecError(j({ source: '10.0.0.1', group: '224.0.0.251' }), `${p}/group`, /224.0.0.0\/24 \(local network control\)/);
  codecError(j({ source: 'fe80::1', group: 'ff02::fb' }), `${p}/group`, /scope 2 \(link-local\)/);
  codecError(j({ source: '127.0.0.1', group: '232.0.0.1' }), `${p}/source`, /loopback/);
  codecError(j({ source: '::ffff:127.0.0.1', group: 'ff3e::1' }), `${p}/source`, /source ::ffff:127.0.0.1 is an IPv4-mapped IPv6 address/);
  codecError(j({ source: '::ffff:0.0.0.0', group: 'ff3e::1' }), `${p}/source`, /IPv4-mapped/);
  codecError(j({ source: '0.1.2.3', group: '232.0.0.1' }), `${p}/source`, /source 0.1.2.3 is in 0.0.0.0\/8/);
  codecError(j({ source: 'fe80::1', group: 'ff3e::1' }), `${p}/source`, /source fe80::1 is link-local/);
  codecError(j({ source: '169.254.0.1', group: '232.0.0.1' }), `${p}/source`, /link-local/);
  codecError(j({ source: 10, group: '232.0.0.1' }), `${p}/source`, /must be an IP address string, got number 10/);
  codecError(j({ group: '232.0.0.1' }), `${p}/source`, /source is missing/, 'missing-element');
  codecError(j({ source: '10.0.0.1' }), `${p}/group`, /group is missing/, 'missing-element');
  codecError(j({ source: '10.0.0.1', group: '232.0.0.1', colour: 1 }), `${p}/colour`, /unknown member "colour"/, 'unknown-element');
  codecError(j({ source: '10.0.0.1', group: '232.0.0.1', 'other-module:x': 1 }), `${p}/other-module:x`, /unknown member/, 'unknown-element');
  codecError(j({ 'asm-group': '239.1.1.1' }), `${p}/asm-group`, /asm-group is not supported/);
  codecError(j({ source: '10.0.0.1', group: '232.0.0.1', 'asm-group': '239.1.1.1' }), `${p}/asm-group`, /either source and group .* or asm-group, not both/, 'bad-element');
  codecError(j({ id: 7, source: '10.0.0.1', group: '232.0.0.1' }), `${p}/id`, /joined-sg id must be a string, got number 7/);
  codecError(j({ id: '1', source: '10.0.0.2', group: '232.0.0.2' }), `${p}/id`, /also used by entry 0/);
  codecError(() => decodeEgressWatchers(egress([], 5)), '/ietf-mnat:watcher[0]/id', /watcher id must be a string/);
  codecError(() => decodeEgressWatchers({ [W]: [{ id: 'w', 'joined-sg': 'x' }] }), '/ietf-mnat:watcher[0]/joined-sg', /must be a list/);
  codecError(() => decodeEgressWatchers({ [W]: [7] }), '/ietf-mnat:watcher[0]', /must be a JSON object, got number 7/);
  codecError(() => decodeEgressWatchers(egress([{ id: 'x'.repeat(300), source: '10.0.0.1', group: '232.0.0.1' }])), '/ietf-mnat:watcher[0]/joined-sg[0]/id', /300 characters/);
  const many = Array.from({ length: 11 }, (_, i) => ({ id: String(i), source: '10.0.0.1', group: '232.0.0.1' }));
  codecError(() => decodeEgressWatchers(egress(many), { maxListEntries: 10 }), '/ietf-mnat:watcher[0]/joined-sg', /11 entries, more than the 10/);
});

test('top level: module-qualified, one member, matching id', () => {
  codecError(() => decodeEgressWatchers({ watcher: [] }), '/watcher', /module-qualified/, 'unknown-element');
  codecError(() => decodeEgressWatchers({ [W]: [], x: 1 }), '/', /exactly one member/);
  codecError(() => decodeEgressWatchers({}), '/', /exactly one member/, 'missing-element');
  codecError(() => decodeEgressWatchers([1]), '/', /got a list/, 'malformed-message');
  codecError(() => decodeEgressWatchers({ 'ietf-mnat:ingress-watching': {} }), '/ietf-mnat:ingress-watching', /unknown top-level member/);
  codecError(() => decodeEgressWatcher(egress([], 'other'), 'w1'), '/ietf-mnat:watcher[0]/id', /differs from the one in the URL/);
  codecError(() => decodeEgressWatcher({ [W]: [{ id: 'w1' }, { id: 'w2' }] }, 'w1'), '/ietf-mnat:watcher', /exactly one watcher entry/);
  codecError(() => decodeEgressWatchers({ [W]: [{ id: 'w1' }, { id: 'w1' }] }), '/ietf-mnat:watcher[1]/id', /unique/);
  codecError(() => decodeEgressWatchers({ [W]: { id: 'w1', 'ietf-mnat:id': 'w1' } }), '/ietf-mnat:watcher[0]/ietf-mnat:id', /given twice/);
  codecError(() => parseJson('{"a":'), '/', /not valid JSON/, 'malformed-message');
  const long = 'x'.repeat(10_000);
  assert.throws(() => decodeEgressWatchers({ [W]: [{ [long]: 1 }] }), (e: unknown) => e instanceof CodecError && e.message.length < 300 && e.path.length < 100);
});

test('egress encode round-trips', () => {
  const joins = [{ id: '1', channel: { source: '10.0.0.1', group: '232.0.0.1' } }];
  assert.deepEqual(encodeEgressWatcher('w1', joins), { [W]: [{ id: 'w1', 'joined-sg': [{ id: '1', source: '10.0.0.1', group: '232.0.0.1' }] }] });
  assert.deepEqual(decodeEgressWatcher(JSON.parse(JSON.stringify(encodeEgressWatcher('w1', joins))), 'w1'), joins);
  assert.deepEqual(decodeEgressWatchers(encodeEgressGlobalJoined([{ id: 'w1', joins }])), [{ id: 'w1', joins }]);
});

test('ingress monitors: canonical prefixes, validation', () => {
  const body = { [W]: { id: 'i1', monitor: [{ id: 'm1', 'global-source-prefix': '23.212.185.77/24' }, { id: 'm2', 'global-source-prefix': '2001:DB8::/32' }] } };
  const monitors = decodeIngressWatcher(body, 'i1');
  assert.deepEqual(monitors, [
    { id: 'm1', globalSourcePrefix: '23.212.185.0/24' },
    { id: 'm2', globalSourcePrefix: '2001:db8::/32' },
  ]);
  assert.deepEqual(decodeIngressWatchers(encodeIngressWatching([{ id: 'i1', monitors }])), [{ id: 'i1', monitors }]);
  assert.deepEqual(decodeIngressWatcher(encodeIngressWatcher('i1', monitors), 'i1'), monitors);
  const bad = (m: Record<string, unknown>) => () => decodeIngressWatchers({ [W]: [{ id: 'i', monitor: [m] }] });
  const p = '/ietf-mnat:watcher[0]/monitor[0]';
  codecError(bad({ id: 'm', 'global-source-prefix': '10.0.0.1' }), `${p}/global-source-prefix`, /needs a \/length/);
  codecError(bad({ id: 'm', 'global-source-prefix': '10.0.0.0/33' }), `${p}/global-source-prefix`, /not an IPv4 or IPv6 prefix/);
  codecError(bad({ id: 'm' }), `${p}/global-source-prefix`, /missing/, 'missing-element');
  codecError(bad({ 'global-source-prefix': '10.0.0.0/8' }), `${p}/id`, /missing/, 'missing-element');
  codecError(bad({ id: 'm', 'global-source-prefix': '10.0.0.0/8', 'joined-sg': [] }), `${p}/joined-sg`, /unknown member/);
});

test('assigned-channels encode (RFC 7951 identities, uint32 ids) and decode', () => {
  const channels: MappedChannel[] = [
    { id: 1, global: { source: '23.212.185.4', group: '232.1.1.1' }, state: 'assigned', local: { source: '10.9.0.7', group: '232.255.0.9' } },
    { id: 4294967295, global: { source: '2001:db8::1', group: 'ff3e::1' }, state: 'unassigned', local: null },
    { id: 3, global: { source: '23.212.185.5', group: '232.1.1.1' }, state: 'assigned', local: { asmGroup: '239.1.2.3' } },
  ];
  const body = encodeAssignedChannelsWatcher('w1', channels);
  assert.deepEqual(body, {
    [W]: [
      {
        id: 'w1',
        'mapped-sg': [
          { id: 1, state: IDENTITY_ASSIGNED, 'global-subscription': { source: '23.212.185.4', group: '232.1.1.1' }, 'local-mapping': { source: '10.9.0.7', group: '232.255.0.9' } },
          { id: 4294967295, state: IDENTITY_UNASSIGNED, 'global-subscription': { source: '2001:db8::1', group: 'ff3e::1' } },
          { id: 3, state: IDENTITY_ASSIGNED, 'global-subscription': { source: '23.212.185.5', group: '232.1.1.1' }, 'local-mapping': { 'asm-group': '239.1.2.3' } },
        ],
      },
    ],
  });
  assert.equal(encodeAssignedChannelsWatcherText('w"1', channels), JSON.stringify(encodeAssignedChannelsWatcher('w"1', channels)));
  assert.equal(encodeAssignedChannelsWatcherText('w1', channels), JSON.stringify(body), 'the cached text is the same');
  assert.equal(encodeAssignedChannelsWatcherText('w1', []), JSON.stringify(encodeAssignedChannelsWatcher('w1', [])));
  // what the prototype's clients read
  assert.equal((body as any)[W][0]['mapped-sg'][0]['local-mapping'].group, '232.255.0.9');
  assert.deepEqual(decodeAssignedChannels(JSON.parse(JSON.stringify(body))), [{ id: 'w1', channels }]);
  assert.deepEqual(decodeAssignedChannels(encodeAssignedChannels([{ id: 'w1', channels }])), [{ id: 'w1', channels }]);
  assert.deepEqual(decodeMappedSg({ id: '5', state: 'unassigned', 'global-subscription': { source: '10.0.0.1', group: '232.0.0.1' }, 'local-mapping': {} }), {
    id: 5,
    state: 'unassigned',
    global: { source: '10.0.0.1', group: '232.0.0.1' },
    local: null,
  });
  codecError(() => decodeMappedSg({ id: -1 }), '/mapped-sg/id', /uint32/);
  codecError(() => decodeMappedSg({ id: 1, state: 'ietf-mnat:bogus' }), '/mapped-sg/state', /must be/);
  codecError(
    () => decodeMappedSg({ id: 1, state: IDENTITY_ASSIGNED, 'global-subscription': { source: '10.0.0.1', group: '232.0.0.1' } }),
    '/mapped-sg/local-mapping',
    /needs a local-mapping/,
    'missing-element',
  );
});

test('RPC bodies: RFC 8040 and the prototype forms', () => {
  assert.deepEqual(encodeGetNewWatcherIdOutput('abc', 10), { 'ietf-mnat:output': { 'watcher-id': 'abc', 'refresh-period': 10 } });
  assert.deepEqual(encodeGetNewWatcherIdOutput('abc', 10, { prototype: true }), { 'watcher-id': 'abc', 'refresh-period': 10 });
  assert.deepEqual(decodeGetNewWatcherIdOutput(encodeGetNewWatcherIdOutput('abc', 7)), { watcherId: 'abc', refreshPeriodS: 7 });
  assert.deepEqual(decodeGetNewWatcherIdOutput({ 'watcher-id': 'abc' }), { watcherId: 'abc', refreshPeriodS: 10 });
  codecError(() => decodeGetNewWatcherIdOutput({ 'ietf-mnat:output': { 'refresh-period': 10 } }), '/ietf-mnat:output/watcher-id', /missing/);
  codecError(() => decodeGetNewWatcherIdOutput({ 'ietf-mnat:output': { 'watcher-id': 'a', 'refresh-period': 0 } }), '/ietf-mnat:output/refresh-period', /uint16/);
  assert.deepEqual(decodeRefreshWatcherIdInput(encodeRefreshWatcherIdInput('abc')), { watcherId: 'abc' });
  assert.deepEqual(decodeRefreshWatcherIdInput({ 'ietf-mnat:input': { 'ietf-mnat:watcher-id': 'abc' } }), { watcherId: 'abc' });
  codecError(() => decodeRefreshWatcherIdInput({ 'ietf-mnat:input': {} }), '/ietf-mnat:input/watcher-id', /missing/, 'missing-element');
  codecError(() => decodeRefreshWatcherIdInput({ 'ietf-mnat:input': { 'watcher-id': 12 } }), '/ietf-mnat:input/watcher-id', /must be a string/);
  codecError(() => decodeRefreshWatcherIdInput({ input: { 'watcher-id': 'a' } }), '/input', /module-qualified/);
  assert.deepEqual(decodeRefreshWatcherIdOutput(encodeRefreshWatcherIdOutput(30)), { refreshPeriodS: 30 });
  assert.deepEqual(decodeRefreshWatcherIdOutput(null), { refreshPeriodS: 10 });
});
