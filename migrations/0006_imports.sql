-- `tally import`: one row per import, named by its source. Its position (the last source record
-- applied) and its counts are written in the same transaction as the rollups of the records up
-- to it, so a re-run or a resume after kill -9 starts exactly after what is counted.
CREATE TABLE imports (
  name text PRIMARY KEY,
  source text NOT NULL,
  -- A digest of the start of the source: the same name given to other data is refused.
  fingerprint text NOT NULL,
  position text,
  records bigint NOT NULL DEFAULT 0,
  imported bigint NOT NULL DEFAULT 0,
  -- Refused records per reason: {"reason": count}.
  refused jsonb NOT NULL DEFAULT '{}',
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
