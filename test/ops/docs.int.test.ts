/**
 * The OpenAPI document lists every route the server registered, each with its schemas, and is
 * served with its page from the server itself (no CDN); seed 003's page at /api behind its
 * basic-auth variables.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) {
    await s.close();
  }
});

/** `METHOD /path/{param}` of every route fastify holds, but the documentation's own and CORS's. */
function registeredRoutes(server: TestServer): Set<string> {
  const out = new Set<string>();
  const tree = server.running.app.printRoutes({ commonPrefix: false });
  // A tree: each line is one segment under its parent, indented four characters per level.
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) {
      continue;
    }
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    if (m[3] === undefined) {
      continue;
    }
    const path = stack.join('').replace(/:(\w+)/g, '{$1}');
    if (
      /^\/(docs|api)(\/(json|yaml|static\/.*|initOAuth|uiConfig|\*)?)?$/.test(path) ||
      path === '*' ||
      path === '/*'
    ) {
      continue;
    }
    for (const method of m[3].split(', ')) {
      if (method !== 'HEAD' && method !== 'OPTIONS') {
        out.add(`${method} ${path}`);
      }
    }
  }
  return out;
}

describe('API documentation', () => {
  it('lists every registered route with its schemas and marks the ones needing a key', async () => {
    const server = await startServer({ AUTH: 'on' });
    servers.push(server);
    const res = await fetch(`${server.url}/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { responses?: object; security?: unknown; parameters?: unknown[]; requestBody?: unknown }
        >
      >;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        documented.add(`${method.toUpperCase()} ${path}`);
      }
    }
    const registered = registeredRoutes(server);
    expect(registered.size).toBeGreaterThan(20);
    expect([...registered].sort()).toEqual([...documented].sort());
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.responses, `${method} ${path} declares its responses`).toBeDefined();
      }
    }
    expect(doc.paths['/v1/events']!['post']!.requestBody).toBeDefined();
    expect(doc.paths['/v1/stats']!['get']!.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'site_id', in: 'query', required: true }),
      ]),
    );
    expect(doc.paths['/v1/stats']!['get']!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/v1/sites']!['post']!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/v1/events']!['post']!.security).toBeUndefined();
  });

  it('serves the interactive page and its assets from the server itself', async () => {
    const server = servers[0]!;
    const page = await fetch(`${server.url}/docs/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('swagger-ui');
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/);
    const js = await fetch(`${server.url}/docs/static/swagger-ui-bundle.js`);
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(100_000);
  });

  it("serves seed 003's page at /api, behind SWAGGER_USER/SWAGGER_PASSWORD when set, and none with SWAGGER_ENABLED=false", async () => {
    const open = servers[0]!;
    expect((await fetch(`${open.url}/api/`)).status).toBe(200);
    const guarded = await startServer({ SWAGGER_USER: 'admin', SWAGGER_PASSWORD: 'secret' });
    servers.push(guarded);
    const refused = await fetch(`${guarded.url}/api/`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="Swagger"/);
    const basic = (u: string, p: string) => ({
      authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
    });
    expect((await fetch(`${guarded.url}/api/`, { headers: basic('admin', 'wrong') })).status).toBe(
      401,
    );
    expect((await fetch(`${guarded.url}/api/`, { headers: basic('admin', 'secret') })).status).toBe(
      200,
    );
    // The canonical page is not the seed's: it stays open.
    expect((await fetch(`${guarded.url}/docs/`)).status).toBe(200);
    const off = await startServer({ SWAGGER_ENABLED: 'false' });
    servers.push(off);
    expect((await fetch(`${off.url}/api/`)).status).toBe(404);
    expect((await fetch(`${off.url}/docs/`)).status).toBe(200);
  });
});
