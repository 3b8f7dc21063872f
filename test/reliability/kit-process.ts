/**
 * The fault kit in a process of its own, for the soak: the upstream's records and counters (one
 * per request key) stay out of the heap being measured, and the upstream does not share the
 * gateway's event loop — as in production. Started by soak.ts with `fork()`; talks over IPC:
 *   -> { url }                  once listening
 *   <- 'sockets'  -> { sockets } open upstream sockets now
 *   <- 'close'                  close the kit and exit (so does a lost parent)
 */
import { startFaultKit } from '../support/fault-kit.js';

const kit = await startFaultKit({ keepAliveTimeout: Number(process.env.KIT_KEEP_ALIVE ?? 200) });
const send = (m: unknown): void => void process.send?.(m);
send({ url: kit.url });

async function stop(): Promise<never> {
  await kit.close();
  process.exit(0);
}
process.on('message', (m) => {
  if (m === 'sockets') send({ sockets: kit.openSockets() });
  else if (m === 'close') void stop();
});
process.on('disconnect', () => void stop());
