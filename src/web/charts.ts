import { html, type Html } from './html.js';

export interface Series {
  key: string;
  label: string;
  values: readonly number[];
}

const W = 720;
const H = 220;
const PAD = { l: 44, r: 10, t: 10, b: 26 };

const nice = (max: number): number => {
  if (max <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= max)!;
};

/**
 * Lines over time, drawn on the server as SVG (no script): a title and a table of the same numbers
 * make it readable without sight.
 */
export function lineChart(o: {
  title: string;
  labels: readonly string[];
  series: readonly Series[];
  testid?: string;
}): Html {
  const n = o.labels.length;
  const max = nice(Math.max(0, ...o.series.flatMap((s) => s.values)));
  const x = (i: number) => PAD.l + (n <= 1 ? 0 : (i * (W - PAD.l - PAD.r)) / (n - 1));
  const y = (v: number) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / max);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = max * f;
    return html`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e6eb" /><text
        x="${PAD.l - 6}"
        y="${y(v) + 4}"
        text-anchor="end"
        >${Number.isInteger(v) ? v : v.toFixed(1)}</text
      >`;
  });
  const step = Math.max(1, Math.ceil(n / 8));
  const ticks = o.labels.map((l, i) =>
    i % step === 0 ? html`<text x="${x(i)}" y="${H - 8}" text-anchor="middle">${l}</text>` : '',
  );
  const lines = o.series.map(
    (s) =>
      html`<polyline
        class="line ${s.key}"
        fill="none"
        stroke="${COLOURS[s.key] ?? '#334155'}"
        stroke-width="2"
        points="${s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"
      />`,
  );
  return html`<figure class="card">
    <figcaption><h2>${o.title}</h2></figcaption>
    <svg
      class="chart"
      viewBox="0 0 ${W} ${H}"
      role="img"
      aria-label="${o.title}"
      ${o.testid ? html` data-testid="${o.testid}"` : ''}
    >
      ${grid}${ticks}${lines}
    </svg>
    <ul class="legend">
      ${o.series.map((s) => html`<li><span class="sw ${s.key}"></span>${s.label}: ${s.values.reduce((a, b) => a + b, 0)}</li>`)}
    </ul>
    <details>
      <summary>As a table</summary>
      <div class="table-wrap" role="region" aria-label="${o.title}, as a table" tabindex="0">
        <table>
          <thead>
            <tr>
              <th scope="col">Time (UTC)</th>
              ${o.series.map((s) => html`<th scope="col">${s.label}</th>`)}
            </tr>
          </thead>
          <tbody>
            ${o.labels.map(
              (l, i) =>
                html`<tr>
                  <td>${l}</td>
                  ${o.series.map((s) => html`<td>${s.values[i] ?? 0}</td>`)}
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </details>
  </figure>`;
}

const COLOURS: Record<string, string> = {
  sends: '#1d4ed8',
  deliveries: '#15803d',
  bounces: '#b91c1c',
  complaints: '#c2410c',
  rejects: '#6b21a8',
};

/**
 * A rate against its lines: a bar for the measured rate on a scale that shows the review and pause
 * thresholds of SES and the guard's own levels as marks.
 */
export function rateGauge(o: {
  label: string;
  rate: number | null;
  marks: ReadonlyArray<{ key: string; label: string; at: number }>;
  testid?: string;
}): Html {
  const top = Math.max(...o.marks.map((m) => m.at), o.rate ?? 0) * 1.15;
  const gx = (v: number) => 8 + (v / top) * (W - 16);
  const pct = (v: number) => `${(v * 100).toFixed(v < 0.01 ? 2 : 1)} %`;
  const marks = o.marks.map(
    (m) =>
      html`<line
        x1="${gx(m.at)}"
        x2="${gx(m.at)}"
        y1="6"
        y2="42"
        stroke="${MARKS[m.key] ?? '#334155'}"
        stroke-width="2"
        stroke-dasharray="4 3"
      />`,
  );
  const bar =
    o.rate === null
      ? ''
      : html`<rect
          x="8"
          y="14"
          height="20"
          width="${Math.max(2, gx(o.rate) - 8)}"
          rx="3"
          fill="${o.marks.some((m) => o.rate! >= m.at) ? '#b91c1c' : '#15803d'}"
        />`;
  return html`<div class="gauge" ${o.testid ? html` data-testid="${o.testid}"` : ''}>
    <h3>
      ${o.label}:
      <span data-testid="${o.testid ? `${o.testid}-value` : ''}"
        >${o.rate === null ? 'no sends in the range' : pct(o.rate)}</span
      >
    </h3>
    <svg
      class="chart"
      viewBox="0 0 ${W} 48"
      role="img"
      aria-label="${o.label} ${o.rate === null ? 'without sends' : pct(o.rate)}, against ${o.marks.map((m) => `${m.label} at ${pct(m.at)}`).join(', ')}"
    >
      <rect x="8" y="14" height="20" width="${W - 16}" rx="3" fill="#eceef2" />
      ${bar}${marks}
    </svg>
    <ul class="legend">
      ${o.marks.map((m) => html`<li><span class="sw ${m.key}"></span>${m.label} ${pct(m.at)}</li>`)}
    </ul>
  </div>`;
}

const MARKS: Record<string, string> = { guard: '#0f766e', review: '#b45309', pause: '#9f1239' };
