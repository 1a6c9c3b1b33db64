// Browser tests of the console: Debian's Chromium against the real docket binary, serving a
// demo year on 127.0.0.1 (started by server.mjs). `make test-console` runs them.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.mjs',
  globalSetup: './server.mjs',
  // One server, two cores: one browser at a time.
  workers: 1,
  timeout: 180_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  outputDir: process.env.DOCKET_CONSOLE_OUT || 'test-results',
  use: {
    browserName: 'chromium',
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    launchOptions: {
      executablePath: process.env.DOCKET_CHROMIUM || '/usr/bin/chromium',
      // Nothing the browser itself might ask for leaves this machine either.
      args: ['--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
    },
    trace: 'retain-on-failure',
  },
});
