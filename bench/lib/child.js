/**
 * Servers in their own processes: fork, wait for the port over IPC, ask them things, stop them.
 */
import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVERS = fileURLToPath(new URL('../servers/', import.meta.url));

/** Servers running now (for the noise meter, which adds their CPU time to ours). */
export const livePids = new Set();

/**
 * @typedef {object} Child
 * @property {string} name
 * @property {number} port
 * @property {string} url
 * @property {number} pid
 * @property {(cmd: string) => Promise<any>} call
 * @property {() => Promise<void>} close
 */

/**
 * @param {string} file a file in bench/servers
 * @param {string[]} args
 * @param {{ name?: string, execArgv?: string[], env?: Record<string, string> }} [o]
 * @returns {Promise<Child>}
 */
export async function startChild(file, args, o = {}) {
  const child = fork(SERVERS + file, args, {
    execArgv: ['--expose-gc', ...(o.execArgv ?? [])],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production', ...o.env },
  });
  const name = o.name ?? args[0] ?? file;
  livePids.add(child.pid);
  // Whatever a server prints is shown, marked with whose it is.
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stderr.write(`[${name}] ${line}\n`));
  }
  let seq = 0;
  const pending = new Map();
  let exited = false;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => {
    exited = true;
    livePids.delete(child.pid);
    for (const [, p] of pending) p.reject(new Error(`${name} exited (${code ?? signal})`));
    pending.clear();
    resolve();
  }));
  child.on('message', (m) => {
    const p = pending.get(m?.id);
    if (p === undefined) return;
    pending.delete(m.id);
    p.resolve(m);
  });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 20 s`)), 20_000);
    child.on('message', function onReady(m) {
      if (m?.type !== 'ready') return;
      child.off('message', onReady);
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening`));
    });
  });
  const { port, port2 } = ready;
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    // A second port of the same server, when it has one (the upstream does).
    url2: port2 === undefined ? undefined : `http://127.0.0.1:${port2}`,
    pid: child.pid,
    call(cmd) {
      if (exited) return Promise.reject(new Error(`${name} is not running`));
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, cmd });
      });
    },
    async close() {
      if (exited) return;
      child.send({ cmd: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** @param {string} target @param {string} kind @param {object} [extra] options passed to ours */
export function startProxy(kind, target, extra, o = {}) {
  return startChild('proxy.js', [kind, target, ...(extra ? [JSON.stringify(extra)] : [])], { name: kind, ...o });
}

export function startUpstream() {
  return startChild('upstream.js', [], { name: 'upstream' });
}
