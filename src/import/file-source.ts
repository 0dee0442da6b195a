import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { ImportSource, SourceRecord } from './source.js';

export type FileFormat = 'ndjson' | 'csv';

/** Turns one record, in the file's field names, into a canonical event (or says why not). */
export type RecordMapper = (
  record: Record<string, unknown>,
) => { ok: true; event: Record<string, unknown> } | { ok: false; reason: string; message: string };

/** Canonical field names: CSV cells are strings, an empty cell is an absent field. */
export const canonicalFields: RecordMapper = (record) => ({ ok: true, event: record });

/** The format a file name implies, if any. */
export function formatOf(path: string): FileFormat | undefined {
  if (/\.(ndjson|jsonl)$/i.test(path)) {
    return 'ndjson';
  }
  return /\.csv$/i.test(path) ? 'csv' : undefined;
}

/** CSV columns `props.<key>` make the `props` object; empty cells are left out. */
function fromCsv(row: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let props: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(row)) {
    if (v === '' || v === undefined) {
      continue;
    }
    if (k.startsWith('props.')) {
      (props ??= {})[k.slice(6)] = v;
    } else {
      out[k] = v;
    }
  }
  if (props) {
    out.props = props;
  }
  return out;
}

const HEAD_LINES = 2;

/** The first lines of a byte stream, whole: enough to tell one file from another. */
function headOf(buf: Buffer): Buffer {
  let end = -1;
  for (let i = 0; i < HEAD_LINES; i++) {
    const nl = buf.indexOf(10, end + 1);
    if (nl < 0) {
      return buf;
    }
    end = nl;
  }
  return buf.subarray(0, end + 1);
}

/**
 * NDJSON or CSV from a file or standard input (`-`), streamed: memory stays flat whatever the
 * size. A record's position is its ordinal (the line of NDJSON, the record of CSV); a resume
 * reads the file again from the start and skips what is committed (reading is cheap; counting
 * is what must happen once). The fingerprint is the digest of the first lines, so a file that
 * grew by appends resumes where it stopped.
 */
export function openFileSource(
  path: string,
  format: FileFormat,
  mapper: RecordMapper,
  stdin: Readable = process.stdin,
): ImportSource {
  const isStdin = path === '-';
  const full = isStdin ? '-' : resolve(path);
  let size: number | undefined;
  let bytes = 0;
  // Standard input can be read once: its first lines, read for the fingerprint, are kept.
  let peeked: Buffer | undefined;
  let input: Readable | undefined;

  let stdinEnded = false;

  /** Reads standard input up to its first lines without consuming the rest (no for-await: a break would destroy it). */
  async function peekStdin(): Promise<Buffer> {
    if (peeked) {
      return peeked;
    }
    const chunks: Buffer[] = [];
    await new Promise<void>((resolvePeek, reject) => {
      const done = () => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.off('error', onError);
        stdin.pause();
        resolvePeek();
      };
      const onData = (c: Buffer) => {
        chunks.push(c);
        const total = Buffer.concat(chunks);
        if (headOf(total).length < total.length || total.length > 1 << 20) {
          done();
        }
      };
      const onEnd = () => {
        stdinEnded = true;
        done();
      };
      const onError = (err: Error) => {
        done();
        reject(err);
      };
      stdin.on('data', onData);
      stdin.once('end', onEnd);
      stdin.once('error', onError);
    });
    peeked = Buffer.concat(chunks);
    return peeked;
  }

  function stream(): Readable {
    let s: Readable;
    if (isStdin) {
      const pass = new PassThrough();
      pass.write(peeked ?? Buffer.alloc(0));
      if (stdinEnded) {
        pass.end();
      } else {
        stdin.pipe(pass);
      }
      s = pass;
    } else {
      s = createReadStream(full, { highWaterMark: 1 << 20 });
    }
    s.on('data', (c: Buffer) => (bytes += c.length));
    input = s;
    return s;
  }

  async function* ndjson(after: number): AsyncGenerator<SourceRecord> {
    let line = 0;
    const lines = createInterface({ input: stream(), crlfDelay: Infinity });
    for await (const text of lines) {
      line++;
      if (line <= after || text.trim() === '') {
        continue;
      }
      const where = `line ${line}`;
      const position = String(line);
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        yield { kind: 'refused', position, where, reason: 'invalid json', message: 'not JSON' };
        continue;
      }
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        yield {
          kind: 'refused',
          position,
          where,
          reason: 'invalid json',
          message: 'not a JSON object',
        };
        continue;
      }
      yield mapped(raw as Record<string, unknown>, position, where);
    }
  }

  async function* csv(after: number): AsyncGenerator<SourceRecord> {
    const parser = stream().pipe(
      parse({
        columns: (header: string[]) => header.map((h) => h.trim()),
        bom: true,
        info: true,
        skip_empty_lines: true,
        relax_column_count: true,
        relax_quotes: true,
        trim: true,
      }),
    );
    let n = 0;
    for await (const item of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      n++;
      if (n <= after) {
        continue;
      }
      yield mapped(fromCsv(item.record), String(n), `line ${item.info.lines}`);
    }
  }

  function mapped(raw: Record<string, unknown>, position: string, where: string): SourceRecord {
    const m = mapper(raw);
    return m.ok
      ? { kind: 'event', position, where, event: m.event }
      : { kind: 'refused', position, where, reason: m.reason, message: m.message };
  }

  return {
    description: isStdin ? `standard input (${format})` : `file ${full}`,
    defaultName: isStdin ? undefined : `file:${full}`,
    async fingerprint() {
      let head: Buffer;
      if (isStdin) {
        head = headOf(await peekStdin());
      } else {
        size = (await stat(full)).size;
        const fh = await open(full, 'r');
        try {
          const buf = Buffer.alloc(Math.min(size, 1 << 20));
          await fh.read(buf, 0, buf.length, 0);
          head = headOf(buf);
        } finally {
          await fh.close();
        }
      }
      return createHash('sha256').update(format).update('\0').update(head).digest('hex');
    },
    read(after) {
      const from = after === undefined ? 0 : Number(after);
      return format === 'csv' ? csv(from) : ndjson(from);
    },
    progress: () => ({ done: bytes, total: size }),
    async close() {
      input?.destroy();
    },
  };
}
