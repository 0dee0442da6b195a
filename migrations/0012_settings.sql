-- Install-wide settings shared by every process on the database, created once by whichever
-- process needs one first (INSERT … ON CONFLICT DO NOTHING) and never changed after: the
-- secret that signs click links (`link_secret`) lives here unless LINK_SECRET sets it.
CREATE TABLE IF NOT EXISTS settings (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
