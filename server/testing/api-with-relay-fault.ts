// `node server/testing/api-with-relay-fault.ts <fault>`: the API process (server/main.ts) with a fault between
// a commit and the job outbox's send, for tests. Faults: `fail:<trigger>,…` (those sends throw, as a refusing
// pg-boss would; triggers: commit, start, sweep) and `die-after-commit` (the process kills itself, SIGKILL,
// once a transaction's rows committed and before their jobs are sent).
import type { RelayFault, RelayTrigger } from '../../jobs/outbox.ts';
import { runApiProcess } from '../main.ts';

function faultFrom(spec: string | undefined): RelayFault {
  if (spec === 'die-after-commit') {
    return (trigger) => {
      if (trigger === 'commit') process.kill(process.pid, 'SIGKILL');
    };
  }
  const failing = spec?.startsWith('fail:') ? new Set(spec.slice('fail:'.length).split(',') as RelayTrigger[]) : null;
  if (!failing) throw new Error(`unknown fault "${spec}": expected fail:<trigger>,… or die-after-commit`);
  return (trigger) => {
    if (failing.has(trigger)) throw new Error(`injected fault: the ${trigger} send fails`);
  };
}

await runApiProcess({ relayFault: faultFrom(process.argv[2]) });
