import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpDate } from '../../src/server/http/http-date.ts';

test('HttpDate: an IMF-fixdate, the same within a second, the next one after it', () => {
  let now = Date.UTC(2026, 11, 4, 15, 59, 59, 0);
  const date = new HttpDate(() => now);
  assert.equal(date.get(), 'Fri, 04 Dec 2026 15:59:59 GMT');
  now += 999;
  assert.equal(date.get(), 'Fri, 04 Dec 2026 15:59:59 GMT');
  now += 1;
  assert.equal(date.get(), 'Fri, 04 Dec 2026 16:00:00 GMT');
  // A clock stepped back is followed, not ignored.
  now -= 3_600_000;
  assert.equal(date.get(), 'Fri, 04 Dec 2026 15:00:00 GMT');
});
