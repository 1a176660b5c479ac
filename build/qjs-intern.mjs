// The last pass of the QuickJS bundle: a string literal the minified code
// repeats (type names, YANG node names, error tags: "string" alone is there 41
// times) becomes one top-level variable, where that is shorter. terser does
// not do this (it pays off in raw bytes, not after gzip), and the router's
// budget is raw bytes. The names are ones that occur nowhere in the code, so
// no local variable can shadow them. Only expression positions are replaced:
// never a property name, an import specifier or a directive.
// A property read by name counts as the same string: `o.length` (141 times)
// becomes `o[ab]` with ab="length" where that is shorter. It is the same read;
// qjs then looks the name up per access (about 35 ns more on x86, measured
// with 2021-03-27), nothing next to the tools the egress runs.
// Usage as a command (Makefile.openwrt): node build/qjs-intern.mjs FILE
import { readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';

const RESERVED = new Set(['do', 'if', 'in', 'as', 'of']);

/** Short identifiers (1 then 2 characters) that are not in `used`. */
function* freeNames(used) {
  const first = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ$_';
  const rest = `${first}0123456789`;
  for (const a of first) if (!used.has(a)) yield a;
  for (const a of first) for (const b of rest) if (!used.has(a + b) && !RESERVED.has(a + b)) yield a + b;
}

/** A string literal where an identifier could stand instead. */
function replaceable(node) {
  const p = node.parent;
  if ((ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p)) && p.name === node) return false;
  // let {"a-b": x} = o: a key being read, not a value.
  if (ts.isBindingElement(p) && p.propertyName === node) return false;
  if (ts.isImportDeclaration(p) || ts.isExportDeclaration(p) || ts.isImportSpecifier(p) || ts.isExportSpecifier(p) || ts.isExternalModuleReference(p) || ts.isExpressionStatement(p)) return false;
  return true;
}

/** The code with its repeated string literals interned (see the file comment). */
export function internStrings(code) {
  const file = ts.createSourceFile('bundle.js', code, ts.ScriptTarget.ES2020, true, ts.ScriptKind.JS);
  const used = new Set();
  const sites = new Map(); // raw literal text → [start, end) of each replaceable occurrence
  const add = (raw, site) => {
    const list = sites.get(raw) ?? [];
    list.push(site);
    sites.set(raw, list);
  };
  const walk = (node) => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) used.add(node.text);
    if (ts.isStringLiteral(node) && replaceable(node)) add(node.getText(file), { start: node.getStart(file), end: node.end, old: node.end - node.getStart(file) });
    // o.name and o?.name read the same property as o[v] and o?.[v] with v="name" (see the file comment).
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.name) && /^[\w$]+$/.test(node.name.text) && node.expression.kind !== ts.SyntaxKind.SuperKeyword) {
      const start = node.expression.end;
      add(`"${node.name.text}"`, { start, end: node.end, old: node.end - start, open: node.questionDotToken ? '?.[' : '[' });
    }
    node.forEachChild(walk);
  };
  walk(file);
  const names = freeNames(used);
  const decls = [];
  const edits = [];
  // What the sites of one literal save with a name of `n` characters, less its declaration.
  const saving = (raw, list, n) => list.reduce((sum, s) => sum + s.old - n - (s.open ? s.open.length + 1 : 0), 0) - (raw.length + n + 2);
  // The largest savings first, so they get the shortest names.
  for (const [raw, list] of [...sites].sort((a, b) => saving(...b, 2) - saving(...a, 2))) {
    if (saving(raw, list, 2) <= 0) continue;
    const name = names.next().value;
    if (name === undefined) break;
    if (saving(raw, list, name.length) <= 0) continue;
    decls.push(`${name}=${raw}`);
    for (const s of list) edits.push([s.start, s.end, s.open ? `${s.open}${name}]` : name]);
  }
  if (decls.length === 0) return code;
  edits.sort((a, b) => b[0] - a[0]);
  let out = code;
  // Minified code puts no space between a literal and a word (`return"x"`, `"x"in o`): an identifier needs one
  // (`[v]` does not).
  const word = (c) => c !== undefined && /[\w$]/.test(c);
  for (const [start, end, name] of edits) {
    out = `${out.slice(0, start)}${word(out[start - 1]) && word(name[0]) ? ' ' : ''}${name}${word(out[end]) && word(name.at(-1)) ? ' ' : ''}${out.slice(end)}`;
  }
  // After the imports (hoisted in any case), before any other statement runs.
  let at = 0;
  for (const s of file.statements) {
    if (!ts.isImportDeclaration(s)) break;
    at = s.end;
  }
  // Positions before `at` were not edited (imports have no replaceable literals).
  return `${out.slice(0, at)}var ${decls.join(',')};${out.slice(at)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node build/qjs-intern.mjs FILE (rewritten in place)');
    process.exit(2);
  }
  writeFileSync(file, internStrings(readFileSync(file, 'utf8')));
}
