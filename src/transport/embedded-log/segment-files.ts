import { crc32 } from 'node:zlib';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The embedded log's files: the record format, segment names and listing, the scan that finds
 * the valid prefix of a segment, and the small file-system helpers the writer and reader share.
 */

/**
 * On-disk record: [u32 payload length][u32 crc32 of the rest][u32 event count][payload].
 * Positions are global byte offsets; a segment file is named after the offset of its first byte.
 */
export const HEADER_BYTES = 12;

export function encodeRecord(payload: Buffer, count: number): Buffer {
  const rec = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  rec.writeUInt32LE(payload.length, 0);
  rec.writeUInt32LE(count, 8);
  payload.copy(rec, HEADER_BYTES);
  rec.writeUInt32LE(crc32(rec.subarray(8)), 4);
  return rec;
}

export interface DecodedRecord {
  /** Offset of the record within the buffer. */
  offset: number;
  size: number;
  count: number;
  payload: Buffer;
}

export type DecodeResult =
  { kind: 'record'; rec: DecodedRecord } | { kind: 'partial'; need: number } | { kind: 'corrupt' };

/** Decodes the record at `offset` of `buf`. */
export function decodeRecord(buf: Buffer, offset: number): DecodeResult {
  if (buf.length - offset < HEADER_BYTES) {
    return { kind: 'partial', need: HEADER_BYTES };
  }
  const len = buf.readUInt32LE(offset);
  const size = HEADER_BYTES + len;
  if (buf.length - offset < size) {
    return { kind: 'partial', need: size };
  }
  const crc = buf.readUInt32LE(offset + 4);
  if (crc32(buf.subarray(offset + 8, offset + size)) !== crc) {
    return { kind: 'corrupt' };
  }
  return {
    kind: 'record',
    rec: {
      offset,
      size,
      count: buf.readUInt32LE(offset + 8),
      payload: buf.subarray(offset + HEADER_BYTES, offset + size),
    },
  };
}

export const segmentName = (base: number) => `${String(base).padStart(20, '0')}.log`;

export async function listSegments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names
    .filter((n) => /^\d{20}\.log$/.test(n))
    .map((n) => Number(n.slice(0, 20)))
    .sort((a, b) => a - b);
}

/**
 * Scans a segment from its start and returns the length of its valid prefix: a torn write at
 * the tail (a crash mid-append) ends the valid part. Also counts the events in it.
 */
export async function scanSegment(
  fh: FileHandle,
  fromOffset = 0,
): Promise<{ validBytes: number; events: number }> {
  const { size } = await fh.stat();
  let pos = fromOffset;
  let events = 0;
  while (pos < size) {
    const header = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await fh.read(header, 0, HEADER_BYTES, pos);
    if (bytesRead < HEADER_BYTES) {
      break;
    }
    const len = header.readUInt32LE(0);
    if (pos + HEADER_BYTES + len > size) {
      break;
    }
    const rec = Buffer.alloc(HEADER_BYTES + len);
    await fh.read(rec, 0, rec.length, pos);
    const d = decodeRecord(rec, 0);
    if (d.kind !== 'record') {
      break;
    }
    events += d.rec.count;
    pos += d.rec.size;
  }
  return { validBytes: pos, events };
}

const ZERO_CHUNK = 1024 * 1024;

/**
 * Whether bytes [from, to) of the file are all zero: the rest of a segment zero-filled ahead
 * (a zero header is never valid, so zeros read as the end of the log), not a torn write.
 */
export async function zerosFrom(fh: FileHandle, from: number, to: number): Promise<boolean> {
  const zeros = Buffer.alloc(ZERO_CHUNK);
  const buf = Buffer.allocUnsafe(ZERO_CHUNK);
  for (let pos = from; pos < to; pos += ZERO_CHUNK) {
    const n = Math.min(ZERO_CHUNK, to - pos);
    const { bytesRead } = await fh.read(buf, 0, n, pos);
    if (bytesRead < n || !buf.subarray(0, n).equals(zeros.subarray(0, n))) {
      return false;
    }
  }
  return true;
}

export async function openSegment(
  dir: string,
  base: number,
  flags: string | number,
): Promise<FileHandle> {
  return open(join(dir, segmentName(base)), flags);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
