// Entry of the compaction worker thread when running from source (the bundle
// re-enters itself instead; see compaction.ts and main.ts).
import { runCompactionWorker } from './compaction.ts';

runCompactionWorker();
