/**
 * The HTTP baseline: a bare node:http server that reads each request and answers 202 without
 * doing anything else. Tally's ingest figures are printed as ratios of what this one does with
 * the same load generator and the same requests. `GET /ready` answers 200, as Tally's does: the
 * harness waits for that (test/harness/ready.ts). Usage: bare-server.ts <port>
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const reply = '{"accepted":0}';

createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/ready') {
      res.writeHead(200, { 'content-length': 0 }).end();
      return;
    }
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': reply.length });
    res.end(reply);
  });
}).listen(port, '127.0.0.1');

process.once('SIGTERM', () => process.exit(0));
