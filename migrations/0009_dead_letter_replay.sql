-- Replaying a dead letter (`tally dead-letters replay`, POST /v1/dead-letters/replay) sends its
-- payload back through the event log and marks the row: when it was last sent and how often.
-- The row stays, as the record of what failed and why; an event that fails again becomes a new
-- row with its new reason. Both columns are metadata-only additions (no table rewrite).
ALTER TABLE dead_letters
  ADD COLUMN replayed_at timestamptz,
  ADD COLUMN replays integer NOT NULL DEFAULT 0;

-- What a replay, the seed 003 queue page's `failed` count and `?replayed=false` look for.
CREATE INDEX dead_letters_not_replayed ON dead_letters (id) WHERE replayed_at IS NULL;
