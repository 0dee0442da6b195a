/**
 * Memory and WAL settings of the embedded PostgreSQL, given as `-c` options at every start (they
 * are not stored in the data directory). Measured in docs/benchmarks.md, "Embedded footprint".
 */

/**
 * PGlite's default is 128 MB, all of it touched at start: 151 MB of WASM memory were resident
 * at idle, 29 MB with this. A page evicted from the pool stays in the OS page cache (PGlite's
 * files are ordinary files), so a miss costs a system call, not a disk read; end-to-end speed
 * was the same in A/B runs (16 MB and 8 MB against 128 MB).
 */
export const SHARED_BUFFERS = '16MB';

/**
 * WAL written since the last checkpoint after which the worker asks for one. A standalone
 * PostgreSQL has no checkpointer, so nothing else does; a crash replays this much at the next
 * start (about 20 ms per MB here, more on a busy machine). 16 MB rather than 32: the replay
 * after `kill -9` must fit in the 3 s that a restart may take, with everything else.
 */
export const WAL_CHECKPOINT_BYTES = 16 * 2 ** 20;
/** How often the worker looks at the WAL written since the last checkpoint. */
export const WAL_CHECK_MS = 2_000;

/** Appended to PGlite's own defaults (`PGlite.defaultStartParams`). */
export function pgliteStartParams(): string[] {
  return ['-c', `shared_buffers=${SHARED_BUFFERS}`];
}
