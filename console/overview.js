// The overview: the due backlog, calls in flight, the last 24 hours' outcomes as a chart, each
// provider's flow state, the last backup and the events' backlog (GET /v1/overview), refreshed
// every 10 seconds while the page is shown.
import {get} from './api.js';
import {badge, h, replace, svg, table} from './dom.js';
import {instant} from './format.js';

const REFRESH_MS = 10000;
const OUTCOMES = ['succeeded', 'declined', 'returned', 'failed', 'skipped', 'cancelled'];

export async function render(main, ctx) {
  const body = h('div', {id: 'overview'});
  const updated = h('p', {class: 'muted', id: 'updated', 'aria-live': 'polite'});
  replace(main, h('h1', {}, 'Overview'), updated, body);
  const refresh = async () => {
    try {
      const o = await get('/v1/overview');
      if (!ctx.current()) return;
      replace(body, ...view(o));
      updated.textContent = `Updated ${instant(o.generated_at)}; refreshes every ${REFRESH_MS / 1000} s.`;
    } catch (e) {
      if (ctx.current()) updated.textContent = `Could not refresh: ${e.message}`;
    }
  };
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}

function card(title, value, detail) {
  return h('section', {class: 'card'}, h('h2', {}, title), h('div', {class: 'big'}, value), detail ? h('div', {class: 'muted'}, detail) : null);
}

function view(o) {
  const capped = (n) => (n >= o.count_cap ? `${n}+` : String(n));
  const backup = !o.backups_enabled ? 'off'
    : o.last_backup ? instant(o.last_backup.backup_at) : 'never';
  const cards = h('div', {class: 'cards'},
    card('Due now: pending', capped(o.due.pending), 'jobs waiting for a first call'),
    card('Due now: retries', capped(o.due.retry), 'jobs waiting for another call'),
    card('Calls in flight', capped(o.in_flight), 'jobs at a bank now (every instance)'),
    card('Events backlog', capped(o.events_backlog.pending),
      o.events_backlog.oldest ? `oldest ${instant(o.events_backlog.oldest)}` : 'nothing waiting'),
    card('Bank events to apply', capped(o.bank_events_pending)),
    h('section', {class: 'card'}, h('h2', {}, 'Last backup'), h('div', {}, backup),
      o.last_backup ? h('div', {class: 'muted'}, `${o.last_backup.job_rows} jobs saved`) : null));
  const providers = o.providers.length
    ? table('Providers', [['Provider'], ['State'], ['Limited'], ['Calls in flight', 'num'], ['Why']],
      o.providers.map((p) => [p.provider, badge(p.state), p.limited ? 'yes (429 or Retry-After)' : 'no',
        String(p.in_flight), p.reason || '—']))
    : h('p', {class: 'muted'}, 'No provider has flow control state yet (no bank calls since start-up).');
  return [cards,
    h('h2', {id: 'outcomes-title'}, 'Outcomes of the last 24 hours'), chart(o.outcomes.hours),
    h('h2', {}, 'Providers'), providers];
}

// Stacked bars, one per hour, hand-drawn in SVG; the legend and the label carry the numbers for
// those who do not see the bars.
function chart(hours) {
  const width = 720, height = 200, left = 36, bottom = 22, top = 8;
  const totals = hours.map((b) => OUTCOMES.reduce((s, k) => s + b[k], 0));
  const max = Math.max(1, ...totals);
  const barWidth = (width - left) / hours.length;
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const sums = Object.fromEntries(OUTCOMES.map((k) => [k, hours.reduce((s, b) => s + b[k], 0)]));
  const label = `Jobs finished per hour, last 24 hours: ${OUTCOMES.map((k) => `${sums[k]} ${k}`).join(', ')}.`;
  const bars = [];
  hours.forEach((b, i) => {
    let base = 0;
    for (const k of OUTCOMES) {
      if (!b[k]) continue;
      bars.push(svg('rect', {class: `c-${k}`, x: left + i * barWidth + 1, y: y(base + b[k]),
        width: Math.max(1, barWidth - 2), height: y(base) - y(base + b[k])},
      svg('title', {}, `${b.hour.slice(11, 16)} UTC: ${b[k]} ${k}`)));
      base += b[k];
    }
  });
  const ticks = [0, Math.round(max / 2), max].map((v) => svg('text', {x: left - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#57606a'}, String(v)));
  const hoursText = hours.filter((_, i) => i % 6 === 0).map((b) => {
    const i = hours.indexOf(b);
    return svg('text', {x: left + i * barWidth, y: height - 6, 'font-size': 11, fill: '#57606a'}, `${b.hour.slice(11, 16)}`);
  });
  const picture = svg('svg', {class: 'chart', id: 'outcomes-chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label},
    svg('line', {x1: left, x2: width, y1: y(0), y2: y(0), stroke: '#8c959f'}), ...ticks, ...hoursText, ...bars);
  const legend = h('ul', {class: 'legend'}, OUTCOMES.map((k) => h('li', {}, h('span', {class: `swatch c-${k}`}), `${k}: ${sums[k]}`)));
  return h('figure', {}, picture, legend, h('figcaption', {class: 'muted'}, 'Hours in UTC, the current hour last.'));
}

