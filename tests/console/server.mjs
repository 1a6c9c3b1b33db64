// Starts the real docket binary on a free loopback port, for the browser tests: the global setup
// serves a demo year (DOCKET_URL) for the whole run; a test may start another with flags of its
// own. DOCKET_BIN names the binary (make passes the one it built).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const bin = resolve(process.env.DOCKET_BIN || '../../target/debug/docket');

export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function ready(url, child, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docket serve exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`docket serve was not ready at ${url} within ${seconds} s`);
}

// Serves a new data directory (with a demo year when `demoScale` is given) on `port` (a free
// one by default); answers `{url, stop}`.
export async function startDocket({ demoScale, port, args = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'docket-console-'));
  if (demoScale) {
    const demo = spawnSync(bin, ['demo', '--data-dir', dataDir, '--scale', demoScale], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (demo.status !== 0) throw new Error(`docket demo failed (${demo.status}); is ${bin} built?`);
  }
  const listen = port || (await freePort());
  const url = `http://127.0.0.1:${listen}`;
  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${listen}`, '--grpc-listen', 'off',
    '--watch-every', '0', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DOCKET_LOG_LEVEL: 'warn' },
  });
  await ready(url, child, 60);
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((r) => { if (child.exitCode !== null) r(); else child.once('exit', r); });
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url, stop };
}

export default async function globalSetup() {
  const docket = await startDocket({ demoScale: process.env.DOCKET_CONSOLE_DEMO_SCALE || '0.1' });
  process.env.DOCKET_URL = docket.url;
  return docket.stop;
}
