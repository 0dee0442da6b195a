import { describe, expect, it } from 'vitest';
import { decodeEvents, UNDECODABLE_KEEP_CHARS } from './reader.js';

describe('decodeEvents', () => {
  it('decodes a JSON array of events, storable or not (the aggregator judges each)', () => {
    expect(decodeEvents(Buffer.from('[{"event_id":"a"},7]'), 0)).toEqual({
      events: [{ event_id: 'a' }, 7],
    });
  });

  it('hands on a record that is not JSON, or not an array, with its reason and position', () => {
    expect(decodeEvents(Buffer.from('{"not json'), 120)).toEqual({
      undecodable: {
        payload: '{"not json',
        reason: expect.stringMatching(
          /^not JSON \(.+\); embedded log record at position 120, 10 bytes$/,
        ) as string,
      },
    });
    expect(decodeEvents(Buffer.from('null'), 0)).toEqual({
      undecodable: {
        payload: 'null',
        reason: 'not an array of events (null); embedded log record at position 0, 4 bytes',
      },
    });
  });

  it('keeps a bounded part of a long payload, and says so', () => {
    const long = `{"a":"${'x'.repeat(UNDECODABLE_KEEP_CHARS)}"}`;
    const d = decodeEvents(Buffer.from(long), 0);
    expect(d).toEqual({
      undecodable: {
        payload: long.slice(0, UNDECODABLE_KEEP_CHARS),
        reason: `not an array of events (object); embedded log record at position 0, ${long.length} bytes, first ${UNDECODABLE_KEEP_CHARS} characters kept`,
      },
    });
  });
});
