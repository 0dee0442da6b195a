-- The two writes made per event (the dedup row and the unique-user row) compare their text
-- keys byte-wise: a B-tree over COLLATE "C" text skips the locale's strcoll, whatever the
-- database's default collation is. Keys are identifiers, never sorted for display.
-- The dedup row keeps its time as epoch milliseconds: cheaper to send and to store than a
-- timestamptz parsed from text, and all the purge needs.
ALTER TABLE event_ids
  ALTER COLUMN event_id TYPE text COLLATE "C",
  ALTER COLUMN ts TYPE bigint USING (extract(epoch FROM ts) * 1000)::bigint;

ALTER TABLE event_ids RENAME COLUMN ts TO ts_ms;

ALTER TABLE site_daily_users
  ALTER COLUMN site_id TYPE text COLLATE "C",
  ALTER COLUMN user_key TYPE text COLLATE "C";
