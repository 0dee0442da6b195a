-- Dedup by arrival. The dedup table is partitioned by arrival generation: a run of
-- DEDUP_WINDOW_DAYS days in which the aggregator wrote the rows, named by its first UTC day
-- (days since 1970-01-01). A generation as long as the window means that a copy's earlier
-- arrivals lie in the current generation or the one before it: one partition to look up, not
-- one per day. The purge drops a whole partition (constant time, no dead tuples, no vacuum
-- debt) instead of deleting rows.
--
-- A primary key on a partitioned table must hold the partition key, so each partition is
-- unique on its own. Ids are made unique across partitions by the aggregator: every batch
-- takes a share lock on the one `dedup_state` row, reads the current generation and writes
-- only into it; moving to a new generation updates that row, which waits for every batch in
-- flight to commit. Two batches that could both write the same id therefore always meet in
-- the same partition's index, and the rows of older generations they look up are committed.
CREATE TABLE dedup_state (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  -- The generation written now, and every generation present (ascending), read together.
  gen integer NOT NULL,
  gens integer[] NOT NULL
);

CREATE TABLE event_ids_by_arrival (
  gen integer NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  -- When Tally first received this id (epoch ms): the window is measured from it.
  received_ms bigint NOT NULL,
  PRIMARY KEY (event_id, gen)
) PARTITION BY LIST (gen);

-- Where each worker stands in the log: the oldest arrival time it still holds or has just
-- applied. A partition is dropped only once every live worker is past its window, so an event
-- that waited in the log (an outage, a backlog) still finds the rows it must be compared with.
CREATE TABLE dedup_horizon (
  worker text PRIMARY KEY,
  low_ms bigint NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now()
);

-- The rows seen so far move into today's generation, keeping their time as the arrival time
-- (before this migration it was the event's own time, never older than the window).
DO $$
DECLARE
  g integer := floor(extract(epoch FROM now()) / 86400);
BEGIN
  EXECUTE format(
    'CREATE TABLE event_ids_g%s PARTITION OF event_ids_by_arrival FOR VALUES IN (%s)', g, g);
  INSERT INTO dedup_state (gen, gens) VALUES (g, ARRAY[g]);
  INSERT INTO event_ids_by_arrival (gen, event_id, received_ms)
    SELECT g, event_id, ts_ms FROM event_ids;
END
$$;

DROP TABLE event_ids;
ALTER TABLE event_ids_by_arrival RENAME TO event_ids;
