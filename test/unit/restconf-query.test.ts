// RFC 8040 §4.8 query parameters: which are taken, where, and their values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryFault } from '../../src/server/restconf/router.ts';

test('query parameters: content, depth, with-defaults on GET/HEAD, once each, valid values only', () => {
  for (const q of ['', 'depth=1', 'depth=65535', 'depth=unbounded', 'content=nonconfig', 'with-defaults=trim', 'content=all&depth=3&with-defaults=report-all-tagged']) {
    assert.equal(queryFault(q, 'GET'), null, q);
  }
  assert.equal(queryFault('depth=2', 'HEAD'), null);
  const refused: Array<[string, string, RegExp]> = [
    ['fields=a', 'GET', /"fields" is not supported/],
    ['__proto__=1', 'GET', /"__proto__" is not supported/],
    ['depth=1', 'POST', /only with GET and HEAD/],
    ['depth=1&depth=2', 'GET', /more than once/],
    ['depth=0', 'GET', /no such value/],
    ['depth=65536', 'GET', /no such value/],
    ['depth=01', 'GET', /no such value/],
    ['depth=abc', 'GET', /no such value/],
    ['content=operational', 'GET', /no such value/],
    ['with-defaults=', 'GET', /no such value/],
  ];
  for (const [q, method, why] of refused) assert.match(queryFault(q, method) ?? 'accepted', why, `${method} ?${q}`);
});
