import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from '../harness/spawn.js';

/** A TCP forwarder that a test can cut (refuse and drop connections) and restore, to play "broker down". */
export interface TcpProxy {
  port: number;
  up(): Promise<void>;
  down(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(
  target: { host: string; port: number },
  opts: { startDown?: boolean } = {},
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  // A port of its own, listened on only while "up".
  const port = await freePort();

  const up = async () => {
    if (server) {
      return;
    }
    const s = createServer((client) => {
      const upstream = connect(target);
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    server = s;
  };
  const down = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) {
      sock.destroy();
    }
    sockets.clear();
    if (s) {
      await new Promise<void>((r) => s.close(() => r()));
    }
  };
  if (!opts.startDown) {
    await up();
  }
  return { port, up, down, close: down };
}
