// How a StoreIntent changes the state machine. Every store implementation
// applies intents through this one function, so the embedded store and a
// replicated one (applying the same intents in log order on every front end)
// reach the same state by construction.
import type { MnatState } from '../state/mnat-state.ts';
import type { StoreIntent } from './store.ts';

/** Applies one intent; throws the state machine's MnatError when it refuses (nothing changed then). */
export function applyIntent(state: MnatState, intent: StoreIntent): void {
  switch (intent.op) {
    case 'create-watcher':
      return state.addWatcher(intent.id, intent.at, intent.owner);
    case 'delete-watcher':
      return state.deleteWatcher(intent.id, intent.at);
    case 'set-joins':
      return state.setEgressJoins(intent.id, intent.joins, intent.at);
    case 'merge-joins':
      return state.mergeEgressJoins(intent.id, intent.joins, intent.at);
    case 'delete-joins':
      return state.deleteEgressJoins(intent.id, intent.at);
    case 'set-monitors':
      return state.setIngressMonitors(intent.id, intent.monitors, intent.at);
    case 'merge-monitors':
      return state.mergeIngressMonitors(intent.id, intent.monitors, intent.at);
    case 'delete-monitors':
      return state.deleteIngressMonitors(intent.id, intent.at);
    case 'tick':
      return state.tick(intent.at);
    default:
      throw new Error(`unknown store intent ${JSON.stringify((intent as { op?: unknown }).op)}`);
  }
}
