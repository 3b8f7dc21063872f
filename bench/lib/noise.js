/**
 * How busy the machine was with work that is not this benchmark: CPU time of every process
 * (/proc/stat user + nice + system) minus our own process tree (this process, its reaped
 * children, and the servers still running), plus the hypervisor's steal time. Figures from a run
 * where other work took a good share of the 2 cores are not comparable with a quiet run's; the
 * report says how much there was. Linux only; elsewhere it reports nothing.
 */
import { readFileSync } from 'node:fs';
import { livePids } from './child.js';

function procStat() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = f;
  return { busy: user + nice + system, total: user + nice + system + idle + iowait + irq + softirq + steal, steal };
}

/** utime + stime (+ cutime + cstime for ourselves: reaped children count there). */
function ticksOf(pid, withChildren) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number);
    // Fields after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
    return f[11] + f[12] + (withChildren ? f[13] + f[14] : 0);
  } catch {
    return 0;
  }
}

function ownTicks() {
  let t = ticksOf('self', true);
  for (const pid of livePids) t += ticksOf(pid, false);
  return t;
}

function sample() {
  try {
    return { ...procStat(), own: ownTicks() };
  } catch {
    return undefined;
  }
}

/**
 * Start measuring; the returned function gives { others, steal } in cores (0..n) since then.
 * A child that exits in between moves its time into our cutime only once reaped, which
 * happens before its 'exit' event, so nothing is counted twice or lost.
 */
export function meter(cores) {
  const a = sample();
  return () => {
    const b = sample();
    if (a === undefined || b === undefined || b.total === a.total) return undefined;
    const span = b.total - a.total;
    return {
      others: Math.max(0, ((b.busy - a.busy - (b.own - a.own)) / span) * cores),
      steal: ((b.steal - a.steal) / span) * cores,
    };
  };
}
