import { randomUUID } from 'node:crypto';
import { createDatabase, throwawayName, type ThrowawayDatabase } from '../harness/databases.js';
import { DEFAULT_SERVICES, postgresReachable } from '../harness/probe.js';

export const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? DEFAULT_SERVICES.pgAdminUrl;

export async function pgAvailable(): Promise<boolean> {
  return postgresReachable(PG_ADMIN_URL);
}

/** Creates a throw-away database whose name contains "test"; returns its URL and a dropper. */
export async function createTestDatabase(): Promise<ThrowawayDatabase> {
  return createDatabase(
    PG_ADMIN_URL,
    throwawayName('test', randomUUID().replace(/-/g, '').slice(0, 16)),
  );
}
