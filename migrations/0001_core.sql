-- Idempotency: one row per event_id seen within the dedup window.
-- BRIN on ts keeps the purge cheap without slowing the hot insert the way a B-tree would.
CREATE TABLE event_ids (
  event_id text PRIMARY KEY,
  ts timestamptz NOT NULL
);
CREATE INDEX event_ids_ts_brin ON event_ids USING brin (ts);

-- Where the embedded log's consumer stands; written in the same transaction as the rollups.
CREATE TABLE consumer_checkpoints (
  name text PRIMARY KEY,
  position text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events that could not be processed, with the reason; they never block the batch behind them.
CREATE TABLE dead_letters (
  id bigserial PRIMARY KEY,
  failed_at timestamptz NOT NULL DEFAULT now(),
  event_id text,
  reason text NOT NULL,
  payload text NOT NULL
);

-- What was not counted, per UTC day and reason (invalid, duplicate, late, dead_letter, ...).
CREATE TABLE drop_ledger (
  day date NOT NULL,
  reason text NOT NULL,
  events bigint NOT NULL,
  PRIMARY KEY (day, reason)
);
