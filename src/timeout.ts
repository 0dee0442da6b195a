/** Rejects with `onTimeout()` when `p` has not settled within `ms` (`p` itself keeps running). */
export function withTimeout<V>(p: Promise<V>, ms: number, onTimeout: () => Error): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
