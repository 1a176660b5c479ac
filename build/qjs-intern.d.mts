/** The code with its repeated string literals interned (build/qjs-intern.mjs). */
export function internStrings(code: string): string;
