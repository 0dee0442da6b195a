import type { Seed, SeedFieldOptions } from '../seed-fields.js';
import { adStatsMinute } from './ad-stats-minute.js';
import { eventsNotPurged, eventTable } from './event-table.js';
import { q, type SeedTable } from './table.js';

/** What the import reads of each seed's database: the tables its README documents. */
export function seedTable(seed: Seed, opts: SeedFieldOptions): SeedTable {
  switch (seed) {
    case 'seed-000':
      return adStatsMinute();
    case 'seed-001':
      // Prisma's model `Event`: a UUID `id` (used as the event id: it names the row for good).
      return eventTable(
        seed,
        {
          table: q('Event'),
          key: 'id',
          received: 'inserted_at',
          fingerprintByArrival: true,
          fields: {
            event_id: 'id',
            site_id: 'site_id',
            event_type: 'event_type',
            path: 'path',
            user_id: 'user_id',
            timestamp: 'timestamp',
          },
        },
        opts,
      );
    case 'seed-002':
      // `id` is a BIGSERIAL row number, not an event id: the events get Tally's ids.
      // `user_agent` has no canonical input field and is not read.
      return {
        ...eventTable(
          seed,
          {
            table: 'events',
            key: 'id',
            received: 'created_at',
            fingerprintByArrival: false,
            fields: {
              event_type: 'event_type',
              ad_unit_id: 'ad_unit_id',
              campaign_id: 'campaign_id',
              creative_id: 'creative_id',
              account_id: 'account_id',
              page_url: 'page_url',
              timestamp: 'timestamp',
            },
          },
          opts,
        ),
        check: eventsNotPurged,
      };
    case 'seed-003':
      // raw_events only: site_daily_* are derived from it.
      return eventTable(
        seed,
        {
          table: 'raw_events',
          key: 'event_id',
          received: 'ingestion_ts',
          fingerprintByArrival: true,
          fields: {
            eventId: 'event_id',
            siteId: 'site_id',
            eventType: 'event_type',
            path: 'path',
            userId: 'user_id',
            visitorId: 'visitor_id',
            timestamp: 'event_ts',
          },
        },
        opts,
      );
    case 'seed-004':
      // `id` is a SERIAL row number, not an event id. A row without event_time is dated by its
      // received_at (the route dates an event without timestamp at its arrival).
      return eventTable(
        seed,
        {
          table: 'events',
          key: 'id',
          received: 'received_at',
          fingerprintByArrival: false,
          fields: {
            site_id: 'site_id',
            event_type: 'event_type',
            path: 'path',
            user_id: 'user_id',
            timestamp: 'event_time',
          },
        },
        opts,
      );
  }
}
