export const PACKAGE_DEPENDS: string[];
export function makeTar(entries: Array<{ path: string; mode: number; data?: string | Uint8Array }>, mtime: number): Uint8Array;
export function buildIpk(options: { root: string; outDir: string; bundle?: string }): {
  path: string;
  version: string;
  files: Array<{ path: string; mode: number; size: number }>;
  control: string;
};
export function buildApk(options: { root: string; outDir: string; apk: string; bundle?: string; env?: NodeJS.ProcessEnv }): {
  path: string;
  version: string;
  files: string[];
};
