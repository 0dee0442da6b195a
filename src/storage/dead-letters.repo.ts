import type { Queryable } from './db.js';

/** Events that could not be processed, with the reason; written in the batch's transaction. */
export async function addDeadLetters(
  tx: Queryable,
  items: { event: unknown; reason: string }[],
): Promise<void> {
  if (items.length === 0) {
    return;
  }
  await tx.query(
    '/* aggregate:dead-letter */ INSERT INTO dead_letters (event_id, reason, payload) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])',
    [
      items.map((i) => {
        const id = (i.event as { event_id?: unknown } | null)?.event_id;
        return typeof id === 'string' ? id.replace(/\u0000/g, '') : null;
      }),
      items.map((i) => i.reason.replace(/\u0000/g, '')),
      // JSON.stringify escapes NUL as \u0000 text, which a text column accepts.
      items.map((i) => JSON.stringify(i.event) ?? 'undefined'),
    ],
  );
}
