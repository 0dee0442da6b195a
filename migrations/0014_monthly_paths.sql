-- Path rankings over long ranges (issue 12): the daily path rollups summed per month, so that a
-- year is about a dozen lists instead of 365 days of rows. Filled by a background compaction
-- (src/aggregate/path-months.ts), never on the per-event path: it adds the days before a
-- watermark, one day per transaction, and moves the watermark in the same transaction.
--
-- The watermark sits on the `dedup_state` row, which every batch already locks FOR SHARE as its
-- first statement: a batch reads it in that same statement, and one that adds to a day before
-- it (a late event, an import of old days) also adds to the month's row in its transaction. The
-- compaction updates the row first, so it waits for the batches in flight and holds back new
-- ones until it committed: a day is summed into its month exactly once.
--
-- Days before `paths_compacted_before` are in the monthly tables; NULL: none yet.
ALTER TABLE dedup_state ADD COLUMN paths_compacted_before date;

-- site_daily_paths (page views per path) per month.
CREATE TABLE site_monthly_paths (
  site_id text NOT NULL,
  month date NOT NULL,
  path text NOT NULL,
  views bigint NOT NULL,
  PRIMARY KEY (site_id, month, path)
);
CREATE INDEX site_monthly_paths_top ON site_monthly_paths (site_id, month, views DESC);

-- site_daily_type_paths per month, as the path breakdown reads it: page-view events (views)
-- and events of every type per path (one row per path, not per type and path).
CREATE TABLE site_monthly_type_paths (
  site_id text NOT NULL,
  month date NOT NULL,
  path text NOT NULL,
  views bigint NOT NULL,
  events bigint NOT NULL,
  PRIMARY KEY (site_id, month, path)
);
CREATE INDEX site_monthly_type_paths_top ON site_monthly_type_paths (site_id, month, views DESC);
