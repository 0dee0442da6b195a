/** One status line, rewritten in place on a terminal; every 5 s as a plain line otherwise (CI logs). */
export function createProgress(stream: NodeJS.WriteStream = process.stderr) {
  const tty = stream.isTTY;
  let lastPlain = 0;
  let shown = false;
  return {
    update(line: string): void {
      if (tty) {
        stream.write(`\r\x1b[K${line.slice(0, (stream.columns || 120) - 1)}`);
        shown = true;
      } else if (Date.now() - lastPlain >= 5000) {
        stream.write(`${line}\n`);
        lastPlain = Date.now();
      }
    },
    /** A line that stays (clears the status line first). */
    log(line: string): void {
      if (tty && shown) {
        stream.write('\r\x1b[K');
        shown = false;
      }
      stream.write(`${line}\n`);
      lastPlain = 0;
    },
  };
}

export type Progress = ReturnType<typeof createProgress>;

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtK = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : fmtInt(n));
