// The property names the QuickJS bundle shortens (build/qjs-mangled-props.txt)
// against the rules written in that file, checked on the egress's bundled
// sources (esbuild, not minified): a name that reaches JSON, a log line, a
// string key or an API outside the bundle would break the router's egress
// while every unit test (which runs the sources) still passed.
// test/qjs/egress-mangle.test.ts runs both builds under qjs and compares them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import ts from 'typescript';
import { MANGLED_PROPS } from '../../build/qjs-bundle.mjs';

const root = new URL('../..', import.meta.url).pathname;
const mangled = new Set<string>(MANGLED_PROPS);

/** The egress bundle as QuickJS gets it, before minifying, parsed. */
async function bundledSources(): Promise<ts.SourceFile> {
  const r = await build({
    entryPoints: [join(root, 'src/egress/main-qjs.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2020',
    external: ['std', 'os'],
    logLevel: 'silent',
  });
  return ts.createSourceFile('bundle.js', r.outputFiles[0]!.text, ts.ScriptTarget.ES2020, true, ts.ScriptKind.JS);
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  node.forEachChild((child) => walk(child, visit));
}

function keyName(name: ts.PropertyName | undefined): string | null {
  return name !== undefined && (ts.isIdentifier(name) || ts.isStringLiteral(name)) ? name.text : null;
}

/** Every key of every object in a JSON document. */
function jsonKeys(value: unknown, into: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) jsonKeys(v, into);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      into.add(k);
      jsonKeys(v, into);
    }
  }
  return into;
}

const offending = (names: Iterable<string>): string[] => [...new Set(names)].filter((n) => mangled.has(n)).sort();

test('the list has no duplicates and every name is a property in the egress bundle', async () => {
  assert.equal(mangled.size, MANGLED_PROPS.length, 'a name is listed twice');
  const used = new Set<string>();
  walk(await bundledSources(), (n) => {
    if (ts.isPropertyAccessExpression(n)) used.add(n.name.text);
    if (ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n) || ts.isMethodDeclaration(n) || ts.isPropertyDeclaration(n)) {
      const k = keyName(n.name);
      if (k !== null) used.add(k);
    }
    if (ts.isBindingElement(n) && ts.isObjectBindingPattern(n.parent)) {
      const k = n.propertyName ?? n.name;
      if (ts.isIdentifier(k)) used.add(k.text);
    }
  });
  assert.deepEqual([...mangled].filter((n) => !used.has(n)), [], 'names no longer used: remove them from build/qjs-mangled-props.txt');
});

test('no shortened name is a string in the code (a key looked up by name, `in`, a header), a log field or a key of a top-level table', async () => {
  const strings: string[] = [];
  const logFields: string[] = [];
  const tableKeys: string[] = [];
  const file = await bundledSources();
  walk(file, (n) => {
    // A string or template piece that is one word can be a key (obj[k], `in`, a header, a built key);
    // a word inside a message cannot.
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) {
      strings.push(n.text.replace(/^[.\/:-]+|[.\/:-]+$/g, ''));
    }
    // log.info('message', { field: … }): the fields are printed by name.
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && ['debug', 'info', 'warn', 'error'].includes(n.expression.name.text)) {
      const fields = n.arguments[1];
      if (fields && ts.isObjectLiteralExpression(fields)) for (const p of fields.properties) logFields.push(keyName(p.name) ?? '');
    }
  });
  // Module-level object literals are tables read with keys that arrive as data (UCI options, tool names, answer types).
  for (const statement of file.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const d of statement.declarationList.declarations) {
      if (d.initializer && ts.isObjectLiteralExpression(d.initializer)) for (const p of d.initializer.properties) tableKeys.push(keyName(p.name) ?? '');
    }
  }
  assert.deepEqual(
    { strings: offending(strings), logFields: offending(logFields), tableKeys: offending(tableKeys) },
    { strings: [], logFields: [], tableKeys: [] },
  );
});

test('no shortened name is a property of a JavaScript built-in or of QuickJS std/os', () => {
  const builtin = new Set<string>();
  const own = (o: object | null): void => {
    for (let p = o; p !== null; p = Object.getPrototypeOf(p)) for (const k of Object.getOwnPropertyNames(p)) builtin.add(k);
  };
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    const v = (globalThis as Record<string, unknown>)[name];
    if (typeof v === 'function') {
      own(v);
      if (v.prototype) own(v.prototype as object);
    } else if (v !== null && typeof v === 'object') own(v);
  }
  own(Object.getPrototypeOf([][Symbol.iterator]()));
  own(Object.getPrototypeOf(new Map().entries()));
  own(/x/.exec('x'));
  own(new Error('x'));
  // QuickJS's std and os modules, as typed for the bundle.
  const dts = ts.createSourceFile('q.d.ts', readFileSync(join(root, 'src/host/quickjs-modules.d.ts'), 'utf8'), ts.ScriptTarget.ES2020, true);
  walk(dts, (n) => {
    if ((ts.isPropertySignature(n) || ts.isMethodSignature(n) || ts.isFunctionDeclaration(n) || ts.isVariableDeclaration(n)) && n.name && ts.isIdentifier(n.name)) builtin.add(n.name.text);
  });
  assert.deepEqual(offending(builtin), []);
});

test('no shortened name is a key of the JSON the egress reads (tool output fixtures) or writes (status file, RESTCONF bodies)', async () => {
  const keys = new Set<string>();
  const fixtures = join(root, 'test/unit/fixtures');
  const jsonFiles = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : []));
  for (const f of jsonFiles(fixtures)) jsonKeys(JSON.parse(readFileSync(f, 'utf8')), keys);
  const { buildEgressStatus } = await import('../../src/egress/egress-status.ts');
  const { encodeEgressWatcher, encodeMappedSg, encodeRefreshWatcherIdInput } = await import('../../src/protocol/ietf-mnat-codec.ts');
  const g = { source: '192.0.2.1', group: '232.1.1.1' };
  const l = { source: '10.0.0.1', group: '239.1.1.1' };
  const status = buildEgressStatus({
    host: { runtime: 'quickjs', pid: 7, wallClock: () => 0 } as never,
    settings: { upstream: 'wan', downstream: 'br-lan', target: { origin: 'https://s:8443' }, membership: 'both', controlFile: '/c' } as never,
    startedAt: new Date(0).toISOString(),
    feed: { connected: false, watcherId: 'w-123456789', mode: 'push', lastError: 'x' },
    devices: { get: () => ({ name: 'wan', ifindex: 2 }) as never },
    lan: { channels: () => [g], holders: () => ['mdb:p1'] },
    attached: true,
    mappings: [{ global: g, local: l, id: 1, status: 'active', note: 'n' }],
    rejected: new Set(),
    rules: new Map([[`${l.source},${l.group}`, {}]]),
    counters: new Map([[`${l.source},${l.group}`, { packets: 1, bytes: 2 }]]),
    stats: { reconciles: 1, actions: 1, failures: 0, lanJoins: 1, lanLeaves: 0, ignoredAsm: 0, drops: { ttl: 1 } },
  });
  jsonKeys(status, keys);
  jsonKeys(encodeEgressWatcher('w', [{ id: 'j', channel: g }]), keys);
  jsonKeys(encodeMappedSg({ id: 1, global: g, state: 'assigned', local: l }), keys);
  jsonKeys(encodeRefreshWatcherIdInput('w'), keys);
  assert.ok(keys.has('startedAt') && keys.has('source_list') && keys.has('joined-sg'), 'the key collection reached the status file, the mdb fixtures and the bodies');
  assert.deepEqual(offending(keys), []);
});
