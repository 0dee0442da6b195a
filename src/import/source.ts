import type { AdMinuteCounts } from '../rollups/rollup.js';

/**
 * One record of an import source. `position` is opaque to the importer: the source hands it
 * back in `read(after)` to continue after the last committed record. Positions must grow in
 * read order.
 */
export type SourceRecord = { position: string; where: string } & (
  | {
      kind: 'event';
      /** The event in canonical field names, validated by the importer as the edge validates. */
      event: Record<string, unknown>;
      /** Arrival time kept by the source (a seed's `created_at`), else the import's time. */
      receivedAt?: number;
    }
  | { kind: 'ad-counts'; counts: AdMinuteCounts }
  | { kind: 'refused'; reason: string; message: string }
);

export interface SourceProgress {
  /** Units done and in all (bytes of a file, rows of a table); `total` undefined when unknown. */
  done: number;
  total: number | undefined;
}

/** Where history comes from: a file, standard input or a seed service's database. */
export interface ImportSource {
  /** What it is, for people: `file /data/events.ndjson`, `seed-004 postgres://host/db`. */
  readonly description: string;
  /** The default import name: the same source gives the same name on every run. */
  readonly defaultName: string | undefined;
  /** A digest of the source's first records: a name used again for other data is refused. */
  fingerprint(): Promise<string>;
  /** Every record after `after` (a position it returned before), in order. */
  read(after: string | undefined): AsyncIterable<SourceRecord>;
  progress(): SourceProgress;
  close(): Promise<void>;
}
