// A process that holds a Translator (attached, one rule) until it is killed:
// the "crashed run" of the translator restart test.
//   translator-holder.ts OBJECT PIN_ROOT INSTANCE DEVICE   (run inside the CPE namespace)
import { createNodeHost, createStderrLogger } from '../src/host/node-host.ts';
import { createTranslator } from '../src/dataplane/translator.ts';
import { MAP4 } from './translator-lab.ts';

const [objectPath, pinRoot, instance, device] = process.argv.slice(2);
if (!objectPath || !pinRoot || !instance || !device) {
  console.error('usage: translator-holder.ts OBJECT PIN_ROOT INSTANCE DEVICE');
  process.exit(2);
}
const translator = createTranslator(createNodeHost(createStderrLogger('holder', 'error')), { objectPath, pinRoot, instance });
await translator.attach(device);
await translator.upsert({ from: MAP4.local, to: MAP4.global, outputs: [device] });
console.log('ready');
setInterval(() => undefined, 1 << 30);
