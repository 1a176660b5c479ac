/** Bundles `entry` to `outfile` for QuickJS (ES2020 ESM, std/os external); returns the size in bytes. */
export function bundleQuickjs(entry: string, outfile: string, options?: { minify?: boolean }): Promise<number>;

/** The internal property names the bundle shortens (build/qjs-mangled-props.txt). */
export const MANGLED_PROPS: readonly string[];
