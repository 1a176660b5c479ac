// Accept negotiation (RFC 9110 §12.5.1): the answers are application/yang-data+json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptsJson } from '../../src/server/http/media-type.ts';

test('Accept: JSON admitted by name, application/* or */*, unless the deciding range has q=0', () => {
  for (const accept of [undefined, '', '*/*', 'application/yang-data+json', 'application/json', 'text/html, application/*;q=0.1', 'text/html;q=1, */*;q=0.01', 'APPLICATION/YANG-DATA+JSON; charset=utf-8']) {
    assert.equal(acceptsJson(accept), true, String(accept));
  }
  for (const accept of ['application/yang-data+xml', 'text/html', 'application/yang-data+json;q=0, text/html', 'application/yang-data+json;q=0.000, */*', 'application/*;q=0, text/*', '*/*;q=0']) {
    assert.equal(acceptsJson(accept), false, accept);
  }
  // The most specific range decides: JSON named with q>0 beats a refusing wildcard.
  assert.equal(acceptsJson('*/*;q=0, application/yang-data+json;q=0.5'), true);
});
