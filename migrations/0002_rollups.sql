-- All buckets are UTC. Dimension columns use '' for "absent", never NULL: NULLs never conflict.
CREATE TABLE site_daily (
  site_id text NOT NULL,
  day date NOT NULL,
  views bigint NOT NULL DEFAULT 0,
  events bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (site_id, day)
);

CREATE TABLE site_daily_types (
  site_id text NOT NULL,
  day date NOT NULL,
  type text NOT NULL,
  events bigint NOT NULL,
  PRIMARY KEY (site_id, day, type)
);

CREATE TABLE site_daily_paths (
  site_id text NOT NULL,
  day date NOT NULL,
  path text NOT NULL,
  views bigint NOT NULL,
  PRIMARY KEY (site_id, day, path)
);

-- Exact unique users: one row per (site, day, user key); ranges count DISTINCT over it.
CREATE TABLE site_daily_users (
  site_id text NOT NULL,
  day date NOT NULL,
  user_key text NOT NULL,
  PRIMARY KEY (site_id, day, user_key)
);

CREATE TABLE site_hourly (
  site_id text NOT NULL,
  hour timestamptz NOT NULL,
  views bigint NOT NULL DEFAULT 0,
  events bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (site_id, hour)
);

CREATE TABLE ad_minute (
  bucket timestamptz NOT NULL,
  ad_id text NOT NULL,
  ad_unit_id text NOT NULL,
  campaign_id text NOT NULL,
  creative_id text NOT NULL,
  account_id text NOT NULL,
  impressions bigint NOT NULL DEFAULT 0,
  clicks bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, ad_id, ad_unit_id, campaign_id, creative_id, account_id)
);

CREATE TABLE ad_hourly (LIKE ad_minute INCLUDING ALL);
CREATE TABLE ad_daily (LIKE ad_minute INCLUDING ALL);
