// Starts the real docket binary on a free loopback port with a demo year loaded, for the browser
// tests; stops it when they end. DOCKET_BIN names the binary (make passes the one it built).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const bin = resolve(process.env.DOCKET_BIN || '../../target/debug/docket');

function freePort() {
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

export default async function globalSetup() {
  const dataDir = mkdtempSync(join(tmpdir(), 'docket-console-'));
  const scale = process.env.DOCKET_CONSOLE_DEMO_SCALE || '0.1';
  const demo = spawnSync(bin, ['demo', '--data-dir', dataDir, '--scale', scale], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (demo.status !== 0) throw new Error(`docket demo failed (${demo.status}); is ${bin} built?`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--grpc-listen', 'off', '--watch-every', '0', '--rate-limit', '1000', '--rate-burst', '5000'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DOCKET_LOG_LEVEL: 'warn' },
  });
  await ready(url, child, 60);
  process.env.DOCKET_URL = url;
  return async () => {
    child.kill('SIGTERM');
    await new Promise((r) => { if (child.exitCode !== null) r(); else child.once('exit', r); });
    rmSync(dataDir, { recursive: true, force: true });
  };
}
