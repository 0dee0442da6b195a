/**
 * The whole single-process service in this process, on a random port of 127.0.0.1, for the
 * tests (test/helpers/server.ts) and the report benchmark alike. Keys are off unless `env`
 * sets AUTH; logs are silent.
 */
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { serve, type Serving } from '../../src/main/serve.js';

export async function serveInProcess(
  env: Record<string, string>,
  dataDir: string,
): Promise<{ url: string; config: Config; running: Serving }> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    AUTH: 'off',
    ...env,
  });
  const running = await serve(config, createLogger(config.logging));
  const addr = running.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, config, running };
}
