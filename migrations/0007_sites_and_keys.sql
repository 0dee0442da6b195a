-- The site registry: who may send a site's events and who may read its reports.
CREATE TABLE sites (
  site_id text PRIMARY KEY,
  name text NOT NULL DEFAULT '',
  -- Exact origins ('https://example.com'), hosts ('example.com', any scheme) and wildcards
  -- ('*.example.com', subdomains only). Empty: events are taken from any origin.
  origins text[] NOT NULL DEFAULT '{}',
  -- Reports readable without a key (a shared read-only dashboard).
  public_reports boolean NOT NULL DEFAULT false,
  -- A request with neither Origin nor Referer (server-side) needs an ingest key for the site.
  ingest_key_required boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- API keys. The secret is never stored: `secret_hash` is SHA-256 of the whole key (a random
-- 256-bit secret needs no slow hash). `id` is the public part of the key, used to find the row.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  secret_hash bytea NOT NULL,
  scope text NOT NULL CHECK (scope IN ('read', 'ingest', 'admin')),
  -- The sites the key is good for; empty: every site.
  sites text[] NOT NULL DEFAULT '{}',
  name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

-- Set once, by the first process that created the bootstrap admin key.
CREATE TABLE auth_bootstrap (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  key_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
