// YANG Patch (RFC 8072) for one keyed list, as carried in a yang-push
// push-change-update (RFC 8641): the server diffs the list it last sent with
// the current one; the client applies the edits to its copy. Pure JSON values
// (RFC 7951), so it runs on QuickJS too.

export interface YangPatchEdit {
  'edit-id': string;
  operation: 'create' | 'delete' | 'insert' | 'merge' | 'move' | 'replace' | 'remove';
  target: string;
  value?: Record<string, unknown>;
}

export interface YangPatch {
  'patch-id': string;
  edit: YangPatchEdit[];
}

/**
 * Percent-encodes a list key value the way RFC 8040 §3.5.3 wants it in a path:
 * each character outside the unreserved and sub-delims sets (and ':' '@') as
 * the %XX of its UTF-8 bytes. A lone surrogate (no UTF-8 form) throws URIError.
 * ('-' goes last in the class: QuickJS master rejects `\-` in a /u class.)
 */
export function encodeKey(value: string): string {
  return value.replace(/[^A-Za-z0-9._~!$&'()*+;:@-]/gu, encodeURIComponent);
}

/**
 * Edits turning `before` into `after`, entries keyed by their "id" (as text).
 * `listPath` is the list's path, e.g. "/ietf-mnat:assigned-channels/watcher=X/mapped-sg";
 * `qualifiedName` the entry's member name in a value, e.g. "ietf-mnat:mapped-sg".
 */
export function diffKeyedList(
  listPath: string,
  qualifiedName: string,
  before: ReadonlyArray<Record<string, unknown>>,
  after: ReadonlyArray<Record<string, unknown>>,
): YangPatchEdit[] {
  const old = new Map<string, string>();
  for (const entry of before) old.set(String(entry.id), JSON.stringify(entry));
  const edits: YangPatchEdit[] = [];
  const seen = new Set<string>();
  for (const entry of after) {
    const key = String(entry.id);
    seen.add(key);
    const prev = old.get(key);
    if (prev === JSON.stringify(entry)) continue;
    edits.push({
      'edit-id': `edit${edits.length + 1}`,
      operation: prev === undefined ? 'create' : 'replace',
      target: `${listPath}=${encodeKey(key)}`,
      value: { [qualifiedName]: [entry] },
    });
  }
  for (const entry of before) {
    const key = String(entry.id);
    if (seen.has(key)) continue;
    edits.push({ 'edit-id': `edit${edits.length + 1}`, operation: 'delete', target: `${listPath}=${encodeKey(key)}` });
  }
  return edits;
}

export class YangPatchError extends Error {
  override name = 'YangPatchError';
}

function decodeKey(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new YangPatchError(`bad percent-encoding in key "${text}"`);
  }
}

/**
 * Applies edits made by diffKeyedList (or any server using the same list
 * targets) to `entries`; returns the new list in the server's order as far as
 * it is known (replaced entries keep their place, created ones go last).
 */
export function applyKeyedListEdits(
  listPath: string,
  qualifiedName: string,
  entries: ReadonlyArray<Record<string, unknown>>,
  edits: readonly YangPatchEdit[],
): Array<Record<string, unknown>> {
  const map = new Map<string, Record<string, unknown>>();
  for (const e of entries) map.set(String(e.id), e);
  const prefix = `${listPath}=`;
  for (const edit of edits) {
    if (typeof edit !== 'object' || edit === null || typeof edit.target !== 'string') throw new YangPatchError('edit without a target');
    if (!edit.target.startsWith(prefix) || edit.target.indexOf('/', prefix.length) >= 0) {
      throw new YangPatchError(`edit target ${edit.target} is not an entry of ${listPath}`);
    }
    const key = decodeKey(edit.target.slice(prefix.length));
    switch (edit.operation) {
      case 'delete':
      case 'remove':
        map.delete(key);
        break;
      case 'create':
      case 'replace':
      case 'merge':
      case 'insert': {
        const list = edit.value?.[qualifiedName];
        const entry = Array.isArray(list) ? list[0] : undefined;
        if (typeof entry !== 'object' || entry === null) throw new YangPatchError(`edit ${edit['edit-id']} has no ${qualifiedName} value`);
        const value = entry as Record<string, unknown>;
        if (String(value.id) !== key) throw new YangPatchError(`edit ${edit['edit-id']}: value id ${String(value.id)} does not match target key ${key}`);
        map.set(key, edit.operation === 'merge' ? { ...(map.get(key) ?? {}), ...value } : value);
        break;
      }
      default:
        throw new YangPatchError(`unsupported yang-patch operation "${String(edit.operation)}"`);
    }
  }
  return Array.from(map.values());
}
