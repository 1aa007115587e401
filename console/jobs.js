// Failed and retrying jobs across transfers (GET /v1/jobs?status=...), a page at a time, with a
// retry of one job or of the selected ones, each behind a confirmation.
import {describe, get, post, query} from './api.js';
import {badge, confirmAction, h, message, replace, table} from './dom.js';
import {instant} from './format.js';

const PAGE = 50;

export async function render(main, ctx) {
  const status = ctx.params.get('status') === 'RETRY' ? 'RETRY' : 'FAILED';
  const tabs = h('div', {class: 'row'}, ['FAILED', 'RETRY'].map((s) =>
    h('a', {href: `#/jobs?status=${s}`, 'aria-current': s === status ? 'page' : false},
      s === 'FAILED' ? 'Failed' : 'Retrying')));
  const outcome = h('div', {id: 'jobs-status'});
  const list = h('div', {id: 'job-list'});
  replace(main, h('h1', {}, status === 'FAILED' ? 'Failed jobs' : 'Retrying jobs'), tabs, outcome, list);

  const cursors = [null];
  const load = async () => {
    const page = await get(`/v1/jobs${query({status, limit: PAGE, cursor: cursors[cursors.length - 1]})}`);
    if (!ctx.current()) return;
    if (!page.data.length) {
      replace(list, message('notice', status === 'FAILED' ? 'No failed job.' : 'No job is waiting for a retry.'));
      return;
    }
    const boxes = [];
    const rows = page.data.map((j) => {
      const box = h('input', {type: 'checkbox', value: j.id, 'aria-label': `Select job ${j.id}`});
      if (status === 'FAILED') boxes.push(box);
      return [status === 'FAILED' ? box : '',
        h('a', {href: `#/transfers/${encodeURIComponent(j.recurring_transfer_id)}`, class: 'mono'}, j.recurring_transfer_id.slice(0, 13) + '…'),
        String(j.sequence), j.scheduled_for, badge(j.status), badge(j.result), String(j.retries),
        status === 'RETRY' ? instant(j.next_attempt_at) : instant(j.finished_at), j.last_error || '—',
        status === 'FAILED' ? h('button', {type: 'button', class: 'quiet', 'aria-label': `Retry job ${j.id}`,
          onclick: () => retry([j.id])}, 'Retry') : ''];
    });
    const retry = async (ids) => {
      if (!ids.length) return;
      const ok = await confirmAction(`Retry ${ids.length} job${ids.length === 1 ? '' : 's'}? Each is sent to the bank again with its own idempotency key.`, 'Retry');
      if (!ok) return;
      const failures = [];
      for (const id of ids) {
        try {
          await post(`/v1/jobs/${id}/retry`);
        } catch (e) {
          failures.push(`${id}: ${describe(e)}`);
        }
      }
      await load();
      replace(outcome, failures.length
        ? message('alert', `${ids.length - failures.length} queued for a retry; refused: ${failures.join('; ')}`)
        : message('success', `${ids.length} job${ids.length === 1 ? '' : 's'} queued for a retry.`));
    };
    const columns = [[status === 'FAILED' ? 'Select' : ''], ['Transfer'], ['#', 'num'], ['Scheduled for'], ['Status'], ['Result'],
      ['Retries', 'num'], [status === 'RETRY' ? 'Next attempt' : 'Failed at'], ['Last error'], ['']];
    const selected = h('button', {type: 'button', id: 'retry-selected', onclick: () => retry(boxes.filter((b) => b.checked).map((b) => b.value))}, 'Retry selected');
    replace(list, status === 'FAILED' ? h('div', {class: 'row'}, selected) : null,
      table(status === 'FAILED' ? 'Failed jobs' : 'Retrying jobs', columns, rows),
      h('div', {class: 'row'},
        h('button', {type: 'button', class: 'quiet', disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); }}, 'Previous page'),
        h('button', {type: 'button', class: 'quiet', disabled: !page.next_cursor, onclick: () => { cursors.push(page.next_cursor); load(); }}, 'Next page')));
  };
  await load();
}
