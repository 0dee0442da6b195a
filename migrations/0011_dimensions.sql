-- Dimensions (issue 12). Buckets are UTC; '' is never stored for a dimension value: an absent
-- value has no row.
--
-- Views and events per (site, day, dimension, value) for source, utm_source … utm_content,
-- browser, os, device and country.
CREATE TABLE site_daily_dims (
  site_id text NOT NULL,
  day date NOT NULL,
  dim text NOT NULL,
  value text NOT NULL,
  views bigint NOT NULL,
  events bigint NOT NULL,
  PRIMARY KEY (site_id, day, dim, value)
);

-- Exact visitors of the user-agent and country dimensions: one row per visitor, day and
-- profile. A visitor keeps one user agent and one country through a day almost always, so this
-- is about one row per row of site_daily_users, instead of four (one per dimension).
CREATE TABLE site_daily_user_profiles (
  site_id text NOT NULL,
  day date NOT NULL,
  user_key text NOT NULL,
  browser text NOT NULL,
  os text NOT NULL,
  device text NOT NULL,
  country text NOT NULL,
  PRIMARY KEY (site_id, day, user_key, browser, os, device, country)
);

-- Exact visitors of the acquisition dimensions (source, utm_*): rows only for the events that
-- carry one (a landing from elsewhere), not for every page view.
CREATE TABLE site_daily_dim_users (
  site_id text NOT NULL,
  day date NOT NULL,
  dim text NOT NULL,
  value text NOT NULL,
  user_key text NOT NULL,
  PRIMARY KEY (site_id, day, dim, value, user_key)
);

-- Custom event properties: events per (site, day, type, key, value). Bounded per event in
-- src/rollups/dimensions.ts (keys, value length).
CREATE TABLE site_daily_props (
  site_id text NOT NULL,
  day date NOT NULL,
  type text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  events bigint NOT NULL,
  PRIMARY KEY (site_id, day, type, key, value)
);

-- Bots, per site and (event) day; the drop ledger counts them per arrival day as reason 'bot'.
CREATE TABLE site_daily_bots (
  site_id text NOT NULL,
  day date NOT NULL,
  events bigint NOT NULL,
  PRIMARY KEY (site_id, day)
);

-- Realtime: minute buckets of the last hour only (purged by the retention pass).
-- No index on user_key in any per-user table, as site_daily_users has none: erasure (rare)
-- scans, the aggregator (every batch) writes one index less.
CREATE TABLE site_minute (
  site_id text NOT NULL,
  minute timestamptz NOT NULL,
  views bigint NOT NULL,
  events bigint NOT NULL,
  PRIMARY KEY (site_id, minute)
);

CREATE TABLE site_minute_paths (
  site_id text NOT NULL,
  minute timestamptz NOT NULL,
  path text NOT NULL,
  views bigint NOT NULL,
  PRIMARY KEY (site_id, minute, path)
);

CREATE TABLE site_minute_users (
  site_id text NOT NULL,
  minute timestamptz NOT NULL,
  user_key text NOT NULL,
  PRIMARY KEY (site_id, minute, user_key)
);

-- Retention (USER_ROWS_RETENTION_DAYS): before a day's per-user dimension rows are purged, the
-- day's visitors per value are kept here, as site_daily_user_counts keeps them for the site.
CREATE TABLE site_daily_dim_user_counts (
  site_id text NOT NULL,
  day date NOT NULL,
  dim text NOT NULL,
  value text NOT NULL,
  visitors bigint NOT NULL,
  PRIMARY KEY (site_id, day, dim, value)
);
