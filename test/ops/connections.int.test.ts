/**
 * Connection timeouts and limits, and the error body of every answer Fastify or Node makes by
 * itself, on real `tally serve` processes through raw sockets (node:net) and fetch. Real: the
 * processes, both HTTP servers (PORT and REPORTING_PORT), the embedded log and database;
 * nothing is mocked. Timings are bounds (configured time, plus slack), not performance figures.
 */
import { spawnSync } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { freePort, REPO_ROOT } from '../harness/spawn.js';
import { sleep } from '../harness/ready.js';
import { startChild, type Child } from '../helpers/child.js';
import { newDataDir, today, waitFor } from '../helpers/server.js';

interface Conn {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Date.now() when it connected. */
  openedAt: number;
  /** Resolves with Date.now() when the connection closed. */
  closed: Promise<number>;
}

function connect(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {}); // a reset is a close here
      const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
      resolve({ socket, received: () => data, openedAt: Date.now(), closed });
    });
  });
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The responses in what a socket received, in order (bodies by content-length). */
function responses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  for (let end = rest.indexOf('\r\n\r\n'); end >= 0; end = rest.indexOf('\r\n\r\n')) {
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(
      lines.map((l) => [
        l.slice(0, l.indexOf(':')).toLowerCase(),
        l.slice(l.indexOf(':') + 1).trim(),
      ]),
    );
    const length = Number(headers['content-length'] ?? 0);
    const body = rest.slice(end + 4, end + 4 + length);
    out.push({
      status: Number(statusLine.split(' ')[1]),
      headers,
      body: body ? JSON.parse(body) : undefined,
    });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

/** The documented error body, `{ error: { code, message } }`, as JSON. */
function expectError(res: RawResponse, status: number, code: string): void {
  expect(res.status, JSON.stringify(res)).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
}

async function fetchRaw(url: string, init: RequestInit = {}): Promise<RawResponse> {
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, headers: Object.fromEntries(r.headers), body: JSON.parse(text) };
}

const portOf = (url: string) => Number(new URL(url).port);
const events = (site: string, prefix: string, n: number) =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({
      event_id: `${prefix}-${i}`,
      type: 'page_view',
      site_id: site,
      path: '/',
    })),
  );
const views = async (url: string, site: string) =>
  (
    (await (await fetch(`${url}/v1/stats?site_id=${site}&date=${today()}`)).json()) as {
      total_views: number;
    }
  ).total_views;
const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
const POST_CHUNKED =
  'POST /v1/events HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n' +
  'transfer-encoding: chunked\r\n\r\n';

const HEADERS_MS = 1000;
const REQUEST_MS = 2000;
const KEEP_ALIVE_MS = 1000;
/** Check interval (100 ms here) plus a loaded machine's scheduling. */
const SLACK_MS = 1500;

const dirs: string[] = [];
const children: Child[] = [];
afterAll(() => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  for (const d of dirs) {
    rmSync(d, { recursive: true, force: true });
  }
});

describe('connection timeouts (REQUEST_TIMEOUT_MS, HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS)', () => {
  let child: Child;
  let reportingPort: number;
  beforeAll(async () => {
    const dataDir = newDataDir();
    dirs.push(dataDir);
    reportingPort = await freePort();
    child = await startChild({
      DATA_DIR: dataDir,
      REPORTING_PORT: String(reportingPort),
      REQUEST_TIMEOUT_MS: String(REQUEST_MS),
      HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
      MAX_BODY_BYTES: '4096',
    });
    children.push(child);
  });

  it('cuts stalled bodies and headers with 408 in the error body, on both ports, while other clients are served; nothing lost or doubled', async () => {
    const port = portOf(child.url);
    const stalledBody = await connect(port);
    stalledBody.socket.write(POST_CHUNKED + chunk(events('cn-stall', 'stall', 5).slice(0, 60)));
    const stalledHeaders = await connect(port);
    stalledHeaders.socket.write('POST /v1/events HTTP/1.1\r\nHost: t\r\n');
    const silent = await connect(port);
    // Slowloris: one header byte every 100 ms, forever; the timeout is for all of them.
    const drip = await connect(port);
    drip.socket.write('GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ');
    const dripped = setInterval(() => drip.socket.write('x'), 100);
    const reportingStall = await connect(reportingPort);
    reportingStall.socket.write('GET /api/stats HTTP/1.1\r\nHost: t\r\n');

    // While they hang, 40 requests of 25 events on fresh connections are all taken.
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = await fetch(`${child.url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: events('cn-live', `live-${i}`, 25),
        });
        await r.arrayBuffer();
        return r.status;
      }),
    );
    expect(statuses).toEqual(Array(40).fill(202));

    const cuts = await Promise.all(
      [stalledBody, stalledHeaders, silent, drip, reportingStall].map(
        async (c) => (await c.closed) - c.openedAt,
      ),
    );
    clearInterval(dripped);
    const [bodyMs, ...headerMs] = cuts as [number, ...number[]];
    expect(bodyMs).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(bodyMs).toBeLessThan(REQUEST_MS + SLACK_MS);
    for (const ms of headerMs) {
      expect(ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
      expect(ms).toBeLessThan(HEADERS_MS + SLACK_MS);
    }
    for (const c of [stalledBody, stalledHeaders, silent, drip, reportingStall]) {
      const [res, ...more] = responses(c.received());
      expect(more).toEqual([]);
      expectError(res!, 408, 'REQUEST_TIMEOUT');
      expect(res!.headers.connection).toBe('close');
    }

    await waitFor(async () => (await views(child.url, 'cn-live')) >= 1000);
    await sleep(300);
    expect(await views(child.url, 'cn-live')).toBe(1000);
    // The stalled request was never acknowledged: none of its events exist.
    expect(await views(child.url, 'cn-stall')).toBe(0);
  });

  it('takes a slow body that arrives within REQUEST_TIMEOUT_MS', async () => {
    const c = await connect(portOf(child.url));
    const body = events('cn-slow', 'slow', 4);
    c.socket.write(POST_CHUNKED);
    for (let i = 0; i < body.length; i += Math.ceil(body.length / 5)) {
      c.socket.write(chunk(body.slice(i, i + Math.ceil(body.length / 5))));
      await sleep(250);
    }
    c.socket.write('0\r\n\r\n');
    await waitFor(() => responses(c.received()).length === 1, 5000);
    expect(responses(c.received())[0]?.status).toBe(202);
    c.socket.destroy();
    await waitFor(async () => (await views(child.url, 'cn-slow')) === 4);
  });

  it('closes an idle keep-alive connection, unanswered, KEEP_ALIVE_TIMEOUT_MS (+ Node’s 1 s) after its last response', async () => {
    const c = await connect(portOf(child.url));
    c.socket.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
    await waitFor(() => responses(c.received()).length === 1, 5000);
    const answered = Date.now();
    const [res] = responses(c.received());
    expect(res?.status).toBe(200);
    expect(res?.headers['keep-alive']).toBe(`timeout=${KEEP_ALIVE_MS / 1000}`);
    const idle = (await c.closed) - answered;
    expect(idle).toBeGreaterThanOrEqual(KEEP_ALIVE_MS);
    expect(idle).toBeLessThan(KEEP_ALIVE_MS + 1000 + SLACK_MS);
    expect(responses(c.received())).toHaveLength(1);
  });

  it('answers what Fastify and Node produce by themselves in the error body', async () => {
    const { url } = child;
    const json = { 'content-type': 'application/json' };
    expectError(await fetchRaw(`${url}/nope`), 404, 'NOT_FOUND');
    // No 405: a known path with another method is an unknown route.
    expectError(await fetchRaw(`${url}/v1/events`, { method: 'DELETE' }), 404, 'NOT_FOUND');
    expectError(await fetchRaw(`http://127.0.0.1:${reportingPort}/nope`), 404, 'NOT_FOUND');
    expectError(
      await fetchRaw(`${url}/v1/events`, { method: 'POST', headers: json, body: 'x'.repeat(5000) }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    expectError(
      await fetchRaw(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/xml' },
        body: '<e/>',
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectError(
      await fetchRaw(`${url}/v1/events`, { method: 'POST', headers: json, body: '{"a":' }),
      400,
      'INVALID_JSON',
    );
    expectError(await fetchRaw(`${url}/v1/sites/%zz`), 400, 'INVALID_URL');

    const raw = async (request: string) => {
      const c = await connect(portOf(url));
      c.socket.write(request);
      await c.closed;
      const all = responses(c.received());
      expect(all).toHaveLength(1);
      expect(all[0]!.headers.connection).toBe('close');
      return all[0]!;
    };
    expectError(
      await raw(`GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
      431,
      'HEADERS_TOO_LARGE',
    );
    expectError(await raw('NOT AN HTTP REQUEST\r\n\r\n'), 400, 'BAD_REQUEST');
    expectError(
      await raw(
        'GET /health HTTP/1.1\r\nHost: t\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n',
      ),
      400,
      'BAD_REQUEST',
    );
    expectError(await raw('GET /health HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 'BAD_REQUEST');
    expectError(
      await raw('GET /health HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n'),
      417,
      'EXPECTATION_FAILED',
    );
  });
});

describe('MAX_CONNECTIONS and the shutdown 503', () => {
  it('closes the connection over the limit unanswered, serves the others, and on SIGTERM answers 503 in the error body while in-flight requests finish', async () => {
    const dataDir = newDataDir();
    dirs.push(dataDir);
    const env = {
      DATA_DIR: dataDir,
      MAX_CONNECTIONS: '5',
      // Long enough for the steps below; short keep-alive so the readiness probe's idle
      // connection is gone before counting.
      REQUEST_TIMEOUT_MS: '5000',
      HEADERS_TIMEOUT_MS: '5000',
      KEEP_ALIVE_TIMEOUT_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '30000',
    };
    const child = await startChild(env);
    children.push(child);
    const port = portOf(child.url);
    await sleep(1800);

    const held = await Promise.all(Array.from({ length: 5 }, () => connect(port)));
    await sleep(200);
    const over = await connect(port);
    over.socket.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
    expect((await over.closed) - over.openedAt).toBeLessThan(1000);
    expect(over.received()).toBe('');

    // A held connection is served; one closed frees a place.
    held[0]!.socket.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
    await waitFor(() => responses(held[0]!.received()).length === 1, 5000);
    expect(responses(held[0]!.received())[0]?.status).toBe(200);
    held[1]!.socket.destroy();
    await sleep(200);
    const next = await connect(port);
    next.socket.write('GET /health HTTP/1.1\r\nHost: t\r\n\r\n');
    await waitFor(() => responses(next.received()).length === 1, 5000);
    expect(responses(next.received())[0]?.status).toBe(200);

    // In flight at SIGTERM: one body completed after it, with a second request pipelined
    // behind; one body that never completes (cut at REQUEST_TIMEOUT_MS, not the deadline).
    const body = events('cn-down', 'down', 10);
    const inflight = held[2]!;
    inflight.socket.write(POST_CHUNKED + chunk(body.slice(0, 20)));
    const stalled = held[3]!;
    stalled.socket.write(POST_CHUNKED + chunk(events('cn-down-stalled', 'ds', 10).slice(0, 20)));
    await sleep(100);
    const sigterm = Date.now();
    child.proc.kill('SIGTERM');
    await sleep(500);
    inflight.socket.write(
      chunk(body.slice(20)) +
        '0\r\n\r\n' +
        'GET /v1/stats?site_id=cn-down HTTP/1.1\r\nHost: t\r\n\r\n',
    );
    await inflight.closed;
    const [accepted, refused, ...rest] = responses(inflight.received());
    expect(rest).toEqual([]);
    expect(accepted?.status).toBe(202);
    expectError(refused!, 503, 'SHUTTING_DOWN');
    expect(refused!.headers['retry-after']).toBe('1');
    expect(refused!.headers.connection).toBe('close');

    // One that sent nothing is closed at once (not at its headers timeout), the stalled body
    // at its request timeout (not at the shutdown deadline); then the process exits 0.
    expect((await held[4]!.closed) - sigterm).toBeLessThan(1000);
    expect(held[4]!.received()).toBe('');
    expect((await stalled.closed) - stalled.openedAt).toBeLessThan(5000 + SLACK_MS + 1000);
    expectError(responses(stalled.received())[0]!, 408, 'REQUEST_TIMEOUT');
    expect(await child.exited, child.output()).toBe(0);
    expect(Date.now() - sigterm).toBeLessThan(5000 + SLACK_MS + 3000);

    // Restarted on the same data: the acknowledged request counted once, nothing else.
    const again = await startChild({ ...env, MAX_CONNECTIONS: '0' });
    children.push(again);
    await waitFor(async () => (await views(again.url, 'cn-down')) >= 10);
    await sleep(300);
    expect(await views(again.url, 'cn-down')).toBe(10);
    expect(await views(again.url, 'cn-down-stalled')).toBe(0);
  });
});

describe('the connection settings', () => {
  it('stops start-up on a bad timeout or limit with one line naming it', () => {
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: '0' })).toThrow(
      /^invalid REQUEST_TIMEOUT_MS="0": .+/,
    );
    expect(() => loadConfig({ MAX_CONNECTIONS: '-1' })).toThrow(/^invalid MAX_CONNECTIONS="-1": /);
    expect(() => loadConfig({ KEEP_ALIVE_TIMEOUT_MS: 'long' })).toThrow(
      /^invalid KEEP_ALIVE_TIMEOUT_MS="long": /,
    );
    expect(loadConfig({}).http).toMatchObject({
      requestTimeoutMs: 10_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      maxConnections: 10_000,
    });
    // Node refuses headersTimeout > requestTimeout: said at start-up, by the real command.
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', 'serve'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATA_DIR: '/nonexistent-tally-test', HEADERS_TIMEOUT_MS: '20000' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      'tally: invalid HEADERS_TIMEOUT_MS=20000: must be at most REQUEST_TIMEOUT_MS (10000), which includes the headers',
    );
  });
});
