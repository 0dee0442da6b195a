-- Anonymous visitors are day-scoped by construction: their key ('h:' + a hash of the day's
-- salt, the day, the site, the address and the user agent) never appears on two days, and has
-- one user agent and one address, so one profile a day. A range's distinct anonymous visitors
-- are then the sum of its days', per site and per dimension value: counted here as their
-- per-visitor rows are first inserted (in the same statement), instead of a DISTINCT over every
-- row of the range at report time. Named visitors (user_id, visitor_id: 'u:' and 'v:' keys) may
-- come back on other days: their distinct count still reads their rows, through the partial
-- indexes below that hold only them.
CREATE TABLE site_daily_anon (
  site_id text NOT NULL,
  day date NOT NULL,
  visitors bigint NOT NULL,
  PRIMARY KEY (site_id, day)
);

CREATE TABLE site_daily_dim_anon (
  site_id text NOT NULL,
  day date NOT NULL,
  dim text NOT NULL,
  value text NOT NULL,
  visitors bigint NOT NULL,
  PRIMARY KEY (site_id, day, dim, value)
);

CREATE INDEX site_daily_users_named ON site_daily_users (site_id, day, user_key)
  WHERE user_key NOT LIKE 'h:%';
CREATE INDEX site_daily_user_profiles_named ON site_daily_user_profiles (site_id, day)
  INCLUDE (user_key, browser, os, device, country) WHERE user_key NOT LIKE 'h:%';
CREATE INDEX site_daily_dim_users_named ON site_daily_dim_users (site_id, dim, day)
  INCLUDE (value, user_key) WHERE user_key NOT LIKE 'h:%';

-- The rows already stored. Days whose rows the retention purged keep their counts (anonymous
-- visitors included) in site_daily_user_counts and site_daily_dim_user_counts, as before.
INSERT INTO site_daily_anon (site_id, day, visitors)
  SELECT site_id, day, count(*) FROM site_daily_users WHERE user_key LIKE 'h:%' GROUP BY site_id, day;
INSERT INTO site_daily_dim_anon (site_id, day, dim, value, visitors)
  SELECT site_id, day, dim, value, count(*) FROM site_daily_dim_users
  WHERE user_key LIKE 'h:%' GROUP BY site_id, day, dim, value;
INSERT INTO site_daily_dim_anon (site_id, day, dim, value, visitors)
  SELECT site_id, day, d.dim, d.value, count(DISTINCT user_key) FROM site_daily_user_profiles,
    LATERAL (VALUES ('browser', browser), ('os', os), ('device', device), ('country', country)) AS d(dim, value)
  WHERE user_key LIKE 'h:%' GROUP BY site_id, day, d.dim, d.value;
