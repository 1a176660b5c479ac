// establish-subscription input: options the server does not implement are
// refused by name, never silently ignored (RFC 8639 stop-time, RFC 8641
// on-change parameters).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RestconfError } from '../../src/server/http/restconf-error.ts';
import { parseEstablishInput } from '../../src/server/restconf/subscription-input.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const input = (extra: Record<string, unknown>, onChange: Record<string, unknown> = {}) => ({
  'ietf-subscribed-notifications:input': {
    'ietf-yang-push:datastore': 'ietf-datastores:operational',
    'ietf-yang-push:datastore-xpath-filter': "/ietf-mnat:assigned-channels/watcher[id='W']",
    'ietf-yang-push:on-change': onChange,
    ...extra,
  },
});

function refused(body: unknown, tag: string, message: RegExp, appTag?: string): void {
  assert.throws(
    () => parseEstablishInput(body, NOW),
    (err: unknown) => {
      assert.ok(err instanceof RestconfError);
      assert.equal(err.status, 400);
      assert.equal(err.tag, tag);
      assert.match(err.message, message);
      assert.equal(err.appTag, appTag);
      return true;
    },
  );
}

test('the defaults are accepted, spelled out or not', () => {
  assert.equal(parseEstablishInput(input({}), NOW), 'W');
  assert.equal(parseEstablishInput(input({}, { 'dampening-period': 0, 'sync-on-start': true, 'excluded-change': [] }), NOW), 'W');
  assert.equal(parseEstablishInput(input({}, { 'ietf-yang-push:sync-on-start': true }), NOW), 'W');
});

test('stop-time: a past one is an error (RFC 8639), a future one is not implemented', () => {
  refused(input({ 'stop-time': '2026-06-01T11:59:59Z' }), 'invalid-value', /not in the future/);
  refused(input({ 'ietf-subscribed-notifications:stop-time': '2020-01-01T00:00:00+02:00' }), 'invalid-value', /not in the future/);
  refused(input({ 'stop-time': '2030-01-01T00:00:00Z' }), 'invalid-value', /stop-time is not supported/);
  refused(input({ 'stop-time': 'tomorrow' }), 'invalid-value', /date-and-time/);
  refused(input({ 'stop-time': 1 }), 'invalid-value', /date-and-time/);
});

test('on-change options the server does not implement are refused by name', () => {
  refused(input({}, { 'dampening-period': 100 }), 'invalid-value', /dampening-period is not supported/);
  refused(input({}, { 'sync-on-start': false }), 'invalid-value', /sync-on-start false is not supported/);
  refused(input({}, { 'excluded-change': ['delete'] }), 'invalid-value', /excluded-change is not supported/, 'ietf-yang-push:cant-exclude');
  refused(input({}, { 'something-else': 1 }), 'unknown-element', /something-else/);
});
