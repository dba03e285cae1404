import type { FastifyInstance } from 'fastify';
import { access } from '../../http/auth.js';
import type { AnalyticsView } from '../../modules/analytics/schemas.js';
import { consoleApi } from '../api.js';
import { lineChart, rateGauge } from '../charts.js';
import { html, qs, type Html } from '../html.js';
import { failed, render } from '../render.js';
import { badge, heading, table, when } from '../ui.js';

/** The ranges the overview offers: how far back, and the bucket that reads well at that length. */
const RANGES = {
  '24h': { hours: 24, bucket: 'hour', label: 'Last 24 hours' },
  '7d': { hours: 24 * 7, bucket: 'hour', label: 'Last 7 days' },
  '30d': { hours: 24 * 30, bucket: 'day', label: 'Last 30 days' },
  '90d': { hours: 24 * 90, bucket: 'day', label: 'Last 90 days' },
  '365d': { hours: 24 * 365, bucket: 'day', label: 'Last year' },
} as const;
type Range = keyof typeof RANGES;

const label = (start: string, bucket: 'hour' | 'day'): string =>
  bucket === 'hour' ? `${start.slice(5, 10)} ${start.slice(11, 16)}` : start.slice(0, 10);

const n = (v: number): string => v.toLocaleString('en-US');

function stats(t: AnalyticsView['totals']): Html {
  const cards: Array<[string, number, string]> = [
    ['Sent', t.sent, 'sent'],
    ['Delivered', t.delivered, 'delivered'],
    ['Bounced', t.bounced, 'bounced'],
    ['Complaints', t.complained, 'complained'],
    ['Rejected', t.rejected, 'rejected'],
    ['Suppressed at send', t.suppressed, 'suppressed'],
  ];
  return html`<div class="cards">
    ${cards.map(([l, v, id]) => html`<div class="stat"><span class="n" data-testid="total-${id}">${n(v)}</span><span class="l">${l}</span></div>`)}
  </div>`;
}

function rates(v: AnalyticsView, r: AnalyticsView['rates'], testid: string): Html {
  const t = v.thresholds;
  return html`<div class="card">
    ${rateGauge({
      label: 'Bounce rate',
      rate: r.bounceRate,
      testid: `${testid}-bounce`,
      marks: [
        { key: 'guard', label: "Sesame's guard warns", at: t.guardWarn.bounceRate },
        { key: 'review', label: 'SES review', at: t.sesReview.bounceRate },
        { key: 'pause', label: 'SES may pause', at: t.sesPause.bounceRate },
      ],
    })}
    ${rateGauge({
      label: 'Complaint rate',
      rate: r.complaintRate,
      testid: `${testid}-complaint`,
      marks: [
        { key: 'guard', label: "Sesame's guard warns", at: t.guardWarn.complaintRate },
        { key: 'review', label: 'SES review', at: t.sesReview.complaintRate },
        { key: 'pause', label: 'SES may pause', at: t.sesPause.complaintRate },
      ],
    })}
    <p class="muted">
      Permanent bounces and complaints per message sent in the range. The guard pauses a connection at
      ${(t.guardPause.bounceRate * 100).toFixed(1)} % bounces or ${(t.guardPause.complaintRate * 100).toFixed(2)} %
      complaints over its last ${n(t.guardWindow)} sends (once it has ${n(t.guardMinSends)}).
    </p>
  </div>`;
}

function quotaRow(c: AnalyticsView['connections'][number]): Array<Html | string> {
  const q = c.quota;
  const used =
    q === null
      ? html`<span class="muted">not read yet</span>`
      : q.max24HourSend < 0
        ? html`${n(q.sentLast24Hours)} (no daily limit)`
        : html`${n(q.sentLast24Hours)} of ${n(q.max24HourSend)}
          (${((q.sentLast24Hours / Math.max(1, q.max24HourSend)) * 100).toFixed(1)} %)`;
  const w = c.queue.waiting;
  const waiting = (
    [
      ['warmup', w.warmup],
      ['quota', w.quota],
      ['paused', w.paused],
      ['scheduled', w.scheduled],
      ['retry', w.retry],
    ] as const
  )
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(', ');
  const pct = (r: number | null, digits: number) => (r === null ? '—' : `${(r * 100).toFixed(digits)} %`);
  return [
    html`<a href="/settings/aws/${c.id}">${c.name ?? c.id}</a>${c.paused ? html` ${badge('paused')}` : ''}`,
    `${n(c.totals.sent)} sent, ${pct(c.rates.bounceRate, 1)} bounces, ${pct(c.rates.complaintRate, 2)} complaints`,
    used,
    q === null ? '—' : `${n(q.maxSendRate)}/s`,
    n(c.queue.depth),
    n(c.queue.inFlight),
    waiting || 'none',
    q === null ? html`<span class="muted">—</span>` : when(q.readAt),
  ];
}

export const overviewPages = (app: FastifyInstance): void => {
  app.get<{ Querystring: { range?: string; connectionId?: string } }>(
    '/',
    { config: access.to('analytics.read') },
    async (req, reply) => {
      const range: Range = Object.hasOwn(RANGES, req.query.range ?? '') ? (req.query.range as Range) : '7d';
      const r = RANGES[range];
      const api = consoleApi(app, req);
      const res = await api.get<AnalyticsView>('/v1/analytics', {
        bucket: r.bucket,
        since: `${r.hours}h`,
        connectionId: req.query.connectionId,
      });
      if (!res.ok)
        return failed(req, reply, { title: 'Overview', section: 'overview', error: res.error, status: res.status });
      const v = res.data;
      const labels = v.series.map((s) => label(s.start, v.bucket));
      const conns = v.connections;
      const filters = html`<form method="get" action="/" class="filters" aria-label="Range">
        <div>
          <label for="range">Range</label
          ><select id="range" name="range">
            ${Object.entries(RANGES).map(([k, x]) => html`<option value="${k}" ${k === range ? html` selected` : ''}>${x.label}</option>`)}
          </select>
        </div>
        <div>
          <label for="conn">Connection</label
          ><select id="conn" name="connectionId">
            <option value="">All connections</option>
            ${conns.map((c) => html`<option value="${c.id}" ${c.id === req.query.connectionId ? html` selected` : ''}>${c.name ?? c.id}</option>`)}
          </select>
        </div>
        <button type="submit">Show</button>
      </form>`;
      const body = html`${heading('Overview')} ${filters}
        <p class="muted">${r.label}, by ${v.bucket}, in UTC (${when(v.from)} to ${when(v.to)}).</p>
        ${stats(v.totals)}
        ${lineChart({
          title: 'Sending over time',
          testid: 'chart-volume',
          labels,
          series: [
            { key: 'sends', label: 'Sent', values: v.series.map((s) => s.counts.sent) },
            { key: 'deliveries', label: 'Delivered', values: v.series.map((s) => s.counts.delivered) },
            { key: 'bounces', label: 'Bounced', values: v.series.map((s) => s.counts.bounced) },
            { key: 'complaints', label: 'Complaints', values: v.series.map((s) => s.counts.complained) },
            { key: 'rejects', label: 'Rejected', values: v.series.map((s) => s.counts.rejected) },
          ],
        })}
        <h2>Reputation</h2>
        ${rates(v, v.rates, 'rate')}
        <h2>Connections: quota and queue</h2>
        <p>
          Messages in the queue: <strong data-testid="queue-depth">${n(v.queue.depth)}</strong> (${n(v.queue.inFlight)}
          sending, ${n(v.queue.due)} due now).
        </p>
        ${table({
          caption: 'Per connection: rates, quota and queue',
          testid: 'quota-table',
          head: [
            'Connection',
            'Sent in the last 24 h (SES)',
            'Max send rate',
            'Queued',
            'Sending',
            'Waiting for',
            'Quota read',
          ],
          rows: conns.map(quotaRow),
          empty: 'No connection yet: add one under Settings → AWS Configuration.',
        })}`;
      return render(req, reply, { title: 'Overview', section: 'overview', body });
    },
  );
};

export const overviewLink = (range: Range, connectionId?: string): string => `/${qs({ range, connectionId })}`;
