// Lets `node --import ./build/ts-loader.mjs` run our TypeScript directly (tests,
// benches, dev runs): .ts files are transpiled on load by esbuild, no emit step.
import { register } from 'node:module';

register(new URL('./ts-loader-hooks.mjs', import.meta.url));
