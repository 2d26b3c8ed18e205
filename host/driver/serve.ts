/**
 * `kdelay serve`: the probes' statistics as Prometheus metrics over HTTP
 * (GET /metrics), collected continuously from -p PID or, by default, the
 * running ovs-vswitchd, attaching to the next one when it restarts.
 *
 * Two threads. The collector (libbpf, the probes, the metric store:
 * driver/serve-worker.ts) runs on a worker thread, because a read of the
 * probes' maps blocks the thread that makes it for 100-400 ms on a target
 * of thousands of threads. This main thread keeps only the HTTP server, the
 * last text the worker sent, and the signals: a scrape is answered at once,
 * whatever the worker is doing.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ExitCode, UserError } from '../base/exit-codes.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { requireBpfCapabilities } from '../system/capabilities.js';
import type { FromCollector, ServeOptions, ToCollector } from './serve-worker.js';

export type { ServeOptions } from './serve-worker.js';

export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 9464 };

/**
 * The collector's thread. In the one-file CLI (dist/kdelay.cjs, whose URL
 * import.meta.url is there) it loads that file again, as bin/kdelay.js does,
 * and runs its serveWorker export; from dist/host/ it runs
 * serve-worker-main.js.
 */
function startCollector(options: ServeOptions): Worker {
  const here = import.meta.url;
  const settings = { workerData: options, stderr: false, stdout: false };
  if (!here.endsWith('.cjs')) return new Worker(new URL('./serve-worker-main.js', here), settings);
  const load = `require(${JSON.stringify(join(PACKAGE_ROOT, 'bin', 'load-bundle.js'))}).loadBundle(${JSON.stringify(fileURLToPath(here))}).exports.serveWorker()`;
  return new Worker(load, { ...settings, eval: true });
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new UserError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`, ExitCode.OSERR)));
    server.listen(port, host, () => resolve());
  });
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A text the worker sent: responses sending it now, and whether it is still the one new scrapes get. */
interface Body {
  bytes: Buffer;
  sending: number;
  current: boolean;
}

const note = (line: string) => process.stderr.write(`kdelay: ${line}\n`);

export async function serve(options: ServeOptions): Promise<number> {
  requireBpfCapabilities();
  const collector = startCollector(options);
  const send = (message: ToCollector, transfer: ArrayBuffer[] = []) => collector.postMessage(message, transfer);
  // What the last read found (the worker's UTF-8, as it sent it) and kdelay's own lines. A body is sent back
  // for the worker to fill again once a newer one came and no response is sending it.
  let body: Body = { bytes: Buffer.alloc(0), sending: 0, current: true };
  let about = '';
  const recycle = (b: Body) => {
    if (!b.current && b.sending === 0 && b.bytes.buffer.byteLength > 0) send({ kind: 'recycle', body: b.bytes.buffer as ArrayBuffer }, [b.bytes.buffer as ArrayBuffer]);
  };
  let closed: () => void = () => {};
  let ready!: { resolve: () => void; reject: (err: Error) => void };
  const readiness = new Promise<void>((resolve, reject) => (ready = { resolve, reject }));
  // The worker ended (said closed, failed, or broke); how it broke, once serving (crashed) or before (readiness).
  let ended = false;
  let failure: Error | undefined;
  let crashed: ((err: Error) => void) | undefined;
  const fail = (err: Error) => {
    if (ended) return;
    ended = true;
    failure = err;
    if (crashed) crashed(err);
    else ready.reject(err);
    closed(); // nothing is left to wait for
  };
  collector.on('message', (message: FromCollector) => {
    switch (message.kind) {
      case 'text':
        if (message.body) {
          const old = body;
          body = { bytes: Buffer.from(message.body, 0, message.length), sending: 0, current: true };
          old.current = false;
          recycle(old);
        }
        about = message.about;
        return;
      case 'note':
        return note(message.line);
      case 'ready':
        return ready.resolve();
      case 'failed':
        return fail(message.exitCode === undefined ? Object.assign(new Error(message.message), { stack: message.stack }) : new UserError(message.message, message.exitCode));
      case 'closed':
        ended = true;
        return closed();
    }
  });
  // A throw the worker did not catch ends it: said in one line, and kdelay stops (its fds go with the process).
  collector.on('error', fail);
  collector.on('exit', (code) => fail(new Error(`its thread ended (exit code ${code})`)));
  await readiness;

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      const tail = Buffer.from(about);
      const b = body;
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': b.bytes.length + tail.length });
      if (req.method === 'HEAD') return void res.end();
      b.sending++;
      // Sent in full: its bytes may be filled again. A response cut short keeps its buffer (for the garbage collector).
      res.once('close', () => {
        b.sending--;
        if (res.writableFinished) recycle(b);
      });
      res.write(b.bytes);
      res.end(tail);
      return;
    }
    res
      .writeHead(path === '/' ? 200 : 404, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end(path === '/' ? 'kdelay serve: metrics at /metrics\n' : 'not found; metrics are at /metrics\n');
  });
  server.keepAliveTimeout = 65_000;
  const stopped = new Promise<void>((resolve) => (closed = resolve));
  try {
    await listen(server, options.host, options.port);
  } catch (err) {
    send({ kind: 'stop' });
    await stopped;
    throw err;
  }
  const address = server.address();
  const where =
    typeof address === 'object' && address ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : `${options.host}:${options.port}`;
  // Scripts wait for this line. Listening comes first: loading the probes may take seconds on a busy machine.
  note(`serving metrics on http://${where}/metrics`);
  send({ kind: 'start' });

  return await new Promise<number>((resolve) => {
    // SIGUSR1 would open Node's debugger in a process holding BPF rights; SIGUSR2 would end it.
    const ignore = () => {};
    process.on('SIGUSR1', ignore);
    process.on('SIGUSR2', ignore);
    const stop = () => {
      for (const signal of STOP_SIGNALS) process.off(signal, stop);
      // A second signal ends it at once; the kernel releases everything with our fds.
      for (const signal of STOP_SIGNALS) process.once(signal, () => process.exit(128 + 2));
      server.close();
      server.closeAllConnections();
      send({ kind: 'stop' });
      void stopped.then(() => resolve(ExitCode.OK));
    };
    crashed = (err) => {
      note(`the collector stopped: ${err.message}`);
      server.close();
      server.closeAllConnections();
      resolve(ExitCode.SOFTWARE);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, stop);
    if (failure) crashed(failure);
  });
}
