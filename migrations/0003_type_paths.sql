-- Path counts per event type, with the earliest event time (epoch ms) of each path that day.
-- The seed-compatible reports need paths over every event type (seed 003), not page views
-- only, and list tied paths in the order they were first seen.
CREATE TABLE site_daily_type_paths (
  site_id text NOT NULL,
  day date NOT NULL,
  type text NOT NULL,
  path text NOT NULL,
  events bigint NOT NULL,
  first_ms bigint NOT NULL,
  PRIMARY KEY (site_id, day, type, path)
);
