import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 16 * 256;
let pool = Buffer.alloc(0);
let poolOffset = POOL_SIZE;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** RFC 9562 UUIDv7: time-ordered ids insert faster into a B-tree than random v4 ids. */
export function uuidv7(now = Date.now()): string {
  if (poolOffset >= POOL_SIZE) {
    pool = randomFillSync(Buffer.alloc(POOL_SIZE));
    poolOffset = 0;
  }
  const o = poolOffset;
  poolOffset += 16;
  // 48-bit milliseconds, big-endian, without BigInt (slow on the hot path).
  const hi = Math.floor(now / 0x100000000);
  const lo = now >>> 0;
  const b = pool;
  b[o] = (hi >>> 8) & 0xff;
  b[o + 1] = hi & 0xff;
  b[o + 2] = lo >>> 24;
  b[o + 3] = (lo >>> 16) & 0xff;
  b[o + 4] = (lo >>> 8) & 0xff;
  b[o + 5] = lo & 0xff;
  b[o + 6] = (b[o + 6]! & 0x0f) | 0x70;
  b[o + 8] = (b[o + 8]! & 0x3f) | 0x80;
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += HEX[b[o + i]!]!;
    if (i === 3 || i === 5 || i === 7 || i === 9) {
      s += '-';
    }
  }
  return s;
}
