-- The cookieless visitor hash's salt, one random value per UTC day (days since 1970-01-01,
-- floor(epoch ms / 86400000)), shared by every API process through this table. Each process
-- creates yesterday's, today's and tomorrow's ahead with ON CONFLICT (day) DO NOTHING and reads
-- them back, so all agree; a day's row is deleted once it is older than yesterday (48 hours
-- after the day began), after which no one can recompute that day's visitor hashes.
CREATE TABLE visitor_salts (
  day integer PRIMARY KEY,
  salt text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
