/**
 * Chromium for the browser tests: Debian's package (scripts/browser/install-chromium.sh, which
 * .ci/run calls), driven by playwright-core, which downloads nothing. No binary: the suite is
 * skipped locally, saying so, and fails under CI=true.
 */
import { accessSync, constants } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { requireService } from '../helpers/services.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether the browser suite runs (throws under CI=true when Chromium is missing). */
export function requireChromium(): boolean {
  return requireService(
    `Chromium (${CHROMIUM_PATH})`,
    executable(CHROMIUM_PATH),
    'install it: bash scripts/browser/install-chromium.sh, or set CHROMIUM_PATH',
  );
}

/**
 * A person's Chrome on Linux. Headless Chromium's own user agent (HeadlessChrome) is a bot, and
 * Tally counts bots as drops, not views.
 */
export const PERSON_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

/**
 * Headless Chromium; `--no-sandbox` because the tests run as root in containers. The user agent
 * is set for the whole browser, not per context: a beacon sent as a page unloads leaves from the
 * browser process, which does not know a context's override.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', `--user-agent=${PERSON_UA}`],
  });
}

export interface PageServer {
  /** `http://127.0.0.1:<port>`: an origin of its own (another port is another origin). */
  origin: string;
  close(): Promise<void>;
}

/** A tiny web server for test pages: `pages` maps a path (no query) to its HTML. */
export async function servePages(pages: (path: string) => string | undefined): Promise<PageServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const html = pages(path);
    res.writeHead(html === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
