import type { Summary } from './report.js';

interface Bar {
  label: string;
  value: number | undefined;
  color: string;
}
interface Group {
  name: string;
  bars: Bar[];
}

const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#b279a2'];
const W = 980;
const H = 440;
const PANEL = { top: 50, bottom: 330 };

/**
 * The chart of a run, hand-written SVG: events/s per topology (log scale) for single events,
 * batches and batches end-to-end, against the baselines; and ack p99 per topology and batch
 * size, at full and at half rate.
 */
export function chartSvg(s: Summary, batch: number, caption: string): string {
  const tput: Group[] = s.rows.map((r) => ({
    name: r.topology,
    bars: [
      { label: 'single events, accepted', value: r.single.acceptedPerS, color: COLORS[0]! },
      { label: `batches of ${batch}, accepted`, value: r.batch.acceptedPerS, color: COLORS[1]! },
      { label: `batches of ${batch}, end-to-end`, value: r.batch.e2ePerS, color: COLORS[2]! },
    ],
  }));
  tput.push({
    name: 'baselines',
    bars: [
      { label: 'bare node:http, single', value: s.bareSinglePerS, color: COLORS[0]! },
      { label: `bare node:http, batches of ${batch}`, value: s.bareBatchPerS, color: COLORS[1]! },
      { label: 'COPY into a keyed table', value: s.copyRowsPerS, color: COLORS[2]! },
    ],
  });
  const lat: Group[] = s.rows.map((r) => ({
    name: r.topology,
    bars: [
      { label: 'single, full rate', value: r.single.p99, color: COLORS[0]! },
      { label: 'single, half rate', value: r.single.halfP99, color: COLORS[3]! },
      { label: `batch ${batch}, full rate`, value: r.batch.p99, color: COLORS[1]! },
      { label: `batch ${batch}, half rate`, value: r.batch.halfP99, color: '#e45756' },
    ],
  }));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    text(20, 22, 'Events per second (log scale)', { size: 14, weight: 'bold' }),
    text(580, 22, 'Ack latency p99 (ms)', { size: 14, weight: 'bold' }),
    panel(tput, 70, 540, 'log'),
    panel(lat, 620, 960, 'linear', [
      { value: 5, label: 'target 5 ms', color: '#e45756' },
      {
        value: s.floorP99,
        label: `floor: bare node:http paced, ${short(s.floorP99 ?? 0)} ms`,
        color: '#777',
      },
    ]),
    legend(tput[0]?.bars ?? [], 20, 385),
    legend(lat[0]?.bars ?? [], 580, 385),
    text(20, 430, caption, { size: 10, fill: '#666' }),
    '</svg>',
  ];
  return parts.join('\n');
}

function panel(
  groups: Group[],
  x0: number,
  x1: number,
  scale: 'log' | 'linear',
  refs: { value: number | undefined; label: string; color: string }[] = [],
): string {
  const values = groups.flatMap((g) => g.bars.map((b) => b.value ?? 0)).filter((v) => v > 0);
  const top = Math.max(...values, ...refs.map((r) => r.value ?? 0), 1);
  let y: (v: number) => number;
  let ticks: number[];
  if (scale === 'log') {
    const lo = 10 ** Math.floor(Math.log10(Math.min(...values, top)));
    const hi = 10 ** Math.ceil(Math.log10(top));
    y = (v) =>
      PANEL.bottom -
      ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) *
        (PANEL.bottom - PANEL.top);
    ticks = [];
    for (let t = lo; t <= hi; t *= 10) {
      ticks.push(t);
    }
  } else {
    const step = niceStep(top / 5);
    const hi = Math.ceil(top / step) * step;
    y = (v) => PANEL.bottom - (v / hi) * (PANEL.bottom - PANEL.top);
    ticks = Array.from({ length: Math.round(hi / step) + 1 }, (_, i) => i * step);
  }
  const out: string[] = [];
  for (const t of ticks) {
    out.push(`<line x1="${x0}" x2="${x1}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>`);
    out.push(text(x0 - 6, y(t) + 4, short(t), { anchor: 'end', fill: '#555' }));
  }
  const gw = (x1 - x0) / Math.max(1, groups.length);
  groups.forEach((g, gi) => {
    const bw = Math.min(28, (gw - 16) / g.bars.length);
    const gx = x0 + gi * gw + (gw - bw * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      if (b.value === undefined || b.value <= 0) {
        return;
      }
      const bx = gx + bi * bw;
      const by = y(b.value);
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(PANEL.bottom - by).toFixed(1)}" fill="${b.color}"><title>${esc(`${g.name}: ${b.label}: ${short(b.value)}`)}</title></rect>`,
      );
      out.push(text(bx + (bw - 2) / 2, by - 3, short(b.value), { anchor: 'middle', size: 9 }));
    });
    out.push(
      text(x0 + gi * gw + gw / 2, PANEL.bottom + 16, g.name, { anchor: 'middle', size: 12 }),
    );
  });
  refs.forEach((r, i) => {
    if (r.value === undefined) {
      return;
    }
    const ry = y(r.value);
    out.push(
      `<line x1="${x0}" x2="${x1}" y1="${ry}" y2="${ry}" stroke="${r.color}" stroke-dasharray="5 4"/>`,
    );
    out.push(text(x1 - 4, ry - 4 - i * 12, r.label, { anchor: 'end', fill: r.color }));
  });
  out.push(`<line x1="${x0}" x2="${x1}" y1="${PANEL.bottom}" y2="${PANEL.bottom}" stroke="#333"/>`);
  return out.join('\n');
}

function legend(bars: Bar[], x: number, y: number): string {
  return bars
    .map((b, i) => {
      const lx = x + (i % 2) * 190;
      const ly = y + Math.floor(i / 2) * 15;
      return `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${b.color}"/>${text(lx + 14, ly, b.label)}`;
    })
    .join('\n');
}

function text(
  x: number,
  y: number,
  s: string,
  o: { anchor?: string; size?: number; weight?: string; fill?: string } = {},
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${o.anchor ? ` text-anchor="${o.anchor}"` : ''}${o.size ? ` font-size="${o.size}"` : ''}${o.weight ? ` font-weight="${o.weight}"` : ''}${o.fill ? ` fill="${o.fill}"` : ''}>${esc(s)}</text>`;
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function short(v: number): string {
  if (v >= 1e6) {
    return `${+(v / 1e6).toFixed(2)}M`;
  }
  if (v >= 1e3) {
    return `${+(v / 1e3).toFixed(1)}k`;
  }
  return v >= 10 ? String(Math.round(v)) : String(+v.toFixed(2));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
