import { createServer, connect, type Server, type Socket } from 'node:net';

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
  // Reserve a port, then listen on it only while "up".
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));

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
