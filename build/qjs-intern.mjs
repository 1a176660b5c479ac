// The last pass of the QuickJS bundle: a string literal the minified code
// repeats (type names, YANG node names, error tags: "string" alone is there 41
// times) becomes one top-level variable, where that is shorter. terser does
// not do this (it pays off in raw bytes, not after gzip), and the router's
// budget is raw bytes. The names are ones that occur nowhere in the code, so
// no local variable can shadow them. Only expression positions are replaced:
// never a property name, an import specifier or a directive.
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
  const walk = (node) => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) used.add(node.text);
    if (ts.isStringLiteral(node) && replaceable(node)) {
      const raw = node.getText(file);
      const list = sites.get(raw) ?? [];
      list.push([node.getStart(file), node.end]);
      sites.set(raw, list);
    }
    node.forEachChild(walk);
  };
  walk(file);
  const names = freeNames(used);
  const decls = [];
  const edits = [];
  // The most used first, so they get the shortest names.
  for (const [raw, list] of [...sites].sort((a, b) => b[1].length * b[0].length - a[1].length * a[0].length)) {
    const saving = list.length * raw.length - list.length * 2 - (raw.length + 4);
    if (saving <= 0) continue;
    const name = names.next().value;
    if (name === undefined) break;
    if (list.length * raw.length - list.length * name.length - (raw.length + name.length + 2) <= 0) continue;
    decls.push(`${name}=${raw}`);
    for (const [start, end] of list) edits.push([start, end, name]);
  }
  if (decls.length === 0) return code;
  edits.sort((a, b) => b[0] - a[0]);
  let out = code;
  // Minified code puts no space between a literal and a word (`return"x"`, `"x"in o`): an identifier needs one.
  const word = (c) => c !== undefined && /[\w$]/.test(c);
  for (const [start, end, name] of edits) {
    out = `${out.slice(0, start)}${word(out[start - 1]) ? ' ' : ''}${name}${word(out[end]) ? ' ' : ''}${out.slice(end)}`;
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
