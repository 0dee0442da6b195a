-- Retention of per-user rows: before a day's (site, day, user) rows are purged, the day's
-- count of distinct users is kept here, so daily unique users stay exact and a range over
-- purged days is reported as the sum of its days' counts (an upper bound: a user seen on two
-- purged days counts twice).
CREATE TABLE site_daily_user_counts (
  site_id text NOT NULL,
  day date NOT NULL,
  users bigint NOT NULL,
  PRIMARY KEY (site_id, day)
);
CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at);
