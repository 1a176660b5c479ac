// Prints a UCI file as the shell variables OpenWrt's config_load sets
// (CONFIG_SECTIONS, CONFIG_<section>_TYPE, CONFIG_<section>_<option>).
import { readFileSync } from 'node:fs';
import { parseUci } from '../../../src/egress/config/uci.ts';

const file = process.argv[2]!;
const pkg = parseUci(readFileSync(file, 'utf8'), file);
const q = (v: string): string => `'${v.replace(/'/g, "'\\''")}'`;
const out = [`CONFIG_SECTIONS=${q(pkg.sections.map((s) => s.name).join(' '))}`];
for (const s of pkg.sections) {
  out.push(`CONFIG_${s.name}_TYPE=${q(s.type)}`);
  for (const [name, value] of Object.entries(s.options)) out.push(`CONFIG_${s.name}_${name}=${q(Array.isArray(value) ? value.join(' ') : value)}`);
}
console.log(out.join('\n'));
