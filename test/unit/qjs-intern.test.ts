// build/qjs-intern.mjs, the QuickJS bundle's last pass: repeated string
// literals become variables only where that keeps the program's meaning
// (minified code's tight spacing, property names, directives, shadowing).
// test/qjs/egress-mangle.test.ts and test/package run the shipped bundle under qjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { internStrings } from '../../build/qjs-intern.mjs';

// Minified-style code: no space between a literal and a keyword, the same literals as keys (also
// destructured ones), a local named like a short name.
const SAMPLE = [
  'var out=[];function f(o){if("membership"in o)return"membership";switch(o.k){case"membership":return"case"}return typeof o.v=="membership"}',
  'var a={"membership":1,membership:2,"x-y":"membership"};',
  'class C{"membership"(){return"membership"}get"long-poll"(){return"long-poll"}}',
  'function g(){var b="long-poll",c="membership";return b+c+"long-poll"+"membership"}',
  'function h(o){let{"long-poll":x,membership:y}=o;return x+y}',
  'out.push(f({membership:1}),f({k:"membership"}),f({v:1}),a["x-y"],a.membership,new C().membership(),new C()["long-poll"],g(),h({"long-poll":"membership",membership:"long-poll"}),"long-poll","long-poll");',
  'out',
].join('');

test('repeated literals become one variable each and the program means the same', () => {
  const interned = internStrings(SAMPLE);
  assert.ok(interned.length < SAMPLE.length, `shorter: ${interned.length} < ${SAMPLE.length}`);
  assert.match(interned, /^var [a-z]{1,2}="membership",[a-z]{1,2}="long-poll";/, interned);
  assert.equal(JSON.stringify(runInNewContext(interned)), JSON.stringify(runInNewContext(SAMPLE)));
  // Keys and method names stay literals; no name of the code is reused (b and c are locals of g).
  assert.match(interned, /\{"membership":1,membership:2,/);
  assert.match(interned, /class C\{"membership"\(\)\{/);
  assert.doesNotMatch(interned, /^var [bc]=/);
});

test('code with nothing worth interning and import statements stays as it is, declarations after the imports', () => {
  assert.equal(internStrings('import*as e from"std";e.puts("a")'), 'import*as e from"std";e.puts("a")');
  const out = internStrings('import*as e from"std";e.puts("a long string");e.puts("a long string");e.puts("a long string")');
  assert.match(out, /^import\*as e from"std";var a="a long string";e\.puts\(a\);/);
});

test('a property read often by name becomes o[v] with v the name: calls keep their this, optional chains, assignments and delete mean the same', () => {
  const code = [
    'var out=[],o={channel:{channel:1},get self(){return this}};',
    'function f(x){x.channel.channel++;x?.channel?.channel;x.nothing?.channel;delete x.channel.channel;return x.channel}',
    'out.push(f(o),o.self===o,o?.self.channel,1..toFixed(1),typeof o.channel,"channel"in o,o.channel?.channel,o.self.channel,o.channel,o.channel);',
    'out',
  ].join('');
  const interned = internStrings(code);
  assert.ok(interned.length < code.length, `shorter: ${interned.length} < ${code.length}`);
  assert.match(interned, /^var ([a-z]{1,2})="channel";/, interned);
  const v = /^var ([a-z]{1,2})=/.exec(interned)![1]!;
  assert.ok(interned.includes(`x?.[${v}]?.[${v}]`) && interned.includes(`x[${v}][${v}]++`), interned);
  // The object literal's keys stay as they are.
  assert.match(interned, /o=\{channel:\{channel:1\}/);
  assert.equal(JSON.stringify(runInNewContext(interned)), JSON.stringify(runInNewContext(code)));
});
