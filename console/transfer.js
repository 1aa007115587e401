// One transfer: its facts, schedule in words, next 12 occurrences, jobs (status, result,
// settlement, each with the bank's answers), change history, and the operator's actions, each
// behind a confirmation: pause, resume, cancel, skip an occurrence, retry a failed job, and
// change the amount of future occurrences (PATCH with If-Match on the transfer's version).
import {ApiError, api, describe, get, post} from './api.js';
import {badge, confirmAction, h, message, replace, table} from './dom.js';
import {instant, money, parseMoney, scheduleBounds, scheduleWords} from './format.js';

const JOB_PAGE = 50;

export async function render(main, ctx) {
  const id = ctx.id;
  const path = `/v1/recurring-transfers/${encodeURIComponent(id)}`;
  let response;
  try {
    response = await api('GET', path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 400)) {
      replace(main, h('h1', {}, 'Transfer not found'), message('alert', `No transfer has the id ${id}.`),
        h('p', {}, h('a', {href: '#/transfers'}, 'Back to the search')));
      return;
    }
    throw e;
  }
  const t = response.data;
  const etag = response.headers.get('ETag');
  const status = h('div', {id: 'action-status'});
  const reload = () => render(main, ctx);
  // Runs an action after its confirmation, then reloads the page with the outcome shown.
  const act = async (question, label, call, done) => {
    if (!(await confirmAction(question, label))) return;
    try {
      await call();
    } catch (e) {
      replace(status, message('alert', actionError(e, reload)));
      return;
    }
    await reload();
    replace(document.getElementById('action-status'), message('success', done));
  };

  const facts = h('dl', {class: 'facts'},
    h('dt', {}, 'Status'), h('dd', {}, badge(t.status), t.status_reason ? ` (${t.status_reason})` : ''),
    h('dt', {}, 'Description'), h('dd', {id: 'description'}, t.description),
    h('dt', {}, 'Amount'), h('dd', {id: 'amount'}, money(t.amount, t.currency)),
    h('dt', {}, 'From'), h('dd', {class: 'mono'}, t.source_account),
    h('dt', {}, 'To'), h('dd', {class: 'mono'}, t.destination_account),
    h('dt', {}, 'External id'), h('dd', {}, t.external_id || '—'),
    h('dt', {}, 'Provider'), h('dd', {}, `${t.provider} (${t.rail})`),
    h('dt', {}, 'Created'), h('dd', {}, instant(t.created_at)),
    h('dt', {}, 'Version'), h('dd', {id: 'version'}, t.version !== undefined ? String(t.version) : '—'));

  const live = t.status === 'ACTIVE' || t.status === 'PAUSED';
  const actions = h('div', {class: 'row'},
    h('button', {type: 'button', id: 'pause', disabled: t.status !== 'ACTIVE', onclick: () => act(
      'Pause this transfer? Its due occurrences are skipped until it is resumed.', 'Pause',
      () => post(`${path}/pause`), 'Paused.')}, 'Pause'),
    h('button', {type: 'button', id: 'resume', disabled: t.status !== 'PAUSED', onclick: () => act(
      'Resume this transfer?', 'Resume', () => post(`${path}/resume`), 'Resumed.')}, 'Resume'),
    h('button', {type: 'button', id: 'cancel', class: 'danger', disabled: !live, onclick: () => act(
      'Cancel this transfer for good? Its pending occurrences are cancelled; this cannot be undone.',
      'Cancel the transfer', () => post(`${path}/cancel`), 'Cancelled.')}, 'Cancel transfer'));

  const sections = [h('h1', {}, 'Transfer ', h('span', {class: 'mono'}, t.id)), status, facts,
    h('h2', {}, 'Actions'), actions, amountForm(t, etag, path, act),
    h('h2', {}, 'Schedule'),
    h('p', {class: 'sched', id: 'schedule-words'}, scheduleWords(t.schedule)),
    h('p', {class: 'muted', id: 'schedule-bounds'}, scheduleBounds(t.schedule)),
    h('h2', {}, 'Next occurrences'), h('div', {id: 'occurrences'}, 'Loading…'),
    h('h2', {}, 'Jobs'), h('div', {id: 'jobs'}, 'Loading…'),
    h('h2', {}, 'Change history'), h('div', {id: 'history'}, 'Loading…')];
  replace(main, ...sections);

  const [occurrences, jobs, history] = await Promise.allSettled([
    get(`${path}/occurrences?count=12`),
    get(`${path}/jobs?limit=${JOB_PAGE}`),
    get(`${path}/history?limit=50`)]);
  if (!ctx.current()) return;
  replace(document.getElementById('occurrences'), occurrences.status === 'fulfilled'
    ? occurrencesView(occurrences.value.data) : message('alert', describe(occurrences.reason)));
  replace(document.getElementById('jobs'), jobs.status === 'fulfilled'
    ? jobsView(jobs.value, path, act) : message('alert', describe(jobs.reason)));
  replace(document.getElementById('history'), history.status === 'fulfilled'
    ? historyView(history.value.data, t.currency)
    : history.reason instanceof ApiError && history.reason.status === 404  // the transfer exists: the route does not
      ? message('notice', 'This server does not record a change history yet.')
      : message('alert', describe(history.reason)));
}

// The message of a refused action; a stale version offers a reload.
function actionError(e, reload) {
  if (e instanceof ApiError && e.status === 412) {
    return [h('span', {id: 'stale'}, 'Not changed: this transfer was changed by someone else since you loaded it. Reload to see the change, then try again. '),
      h('button', {type: 'button', class: 'quiet', onclick: reload}, 'Reload')];
  }
  if (e instanceof ApiError && e.status === 409) return `Refused: ${e.message} (the transfer or job is no longer in a state that allows it).`;
  return `Refused: ${describe(e)}`;
}

// Changing the amount of the occurrences not yet at the bank: needs the transfer's version.
function amountForm(t, etag, path, act) {
  const live = t.status === 'ACTIVE' || t.status === 'PAUSED';
  if (t.version === undefined || !etag) {
    return message('notice', 'Changing the amount needs a server that versions transfers (PATCH with If-Match); this one does not, so it is disabled.');
  }
  if (!live) return h('p', {class: 'muted'}, `The amount cannot change: the transfer is ${t.status}.`);
  const input = h('input', {id: 'new-amount', name: 'amount', inputmode: 'decimal', size: 12, required: true});
  const error = h('div', {id: 'amount-error'});
  const form = h('form', {class: 'row', onsubmit: async (event) => {
    event.preventDefault();
    const minor = parseMoney(input.value, t.currency);
    if (minor === null) {
      replace(error, message('alert', `Enter a positive amount in ${t.currency}, e.g. 60.00.`));
      return;
    }
    replace(error);
    await act(`Change the amount of the future occurrences from ${money(t.amount, t.currency)} to ${money(minor, t.currency)}? Jobs already at the bank or finished keep their amount.`,
      'Change the amount',
      () => api('PATCH', path, {body: {amount: minor}, headers: {'If-Match': etag}}),
      `Amount changed to ${money(minor, t.currency)}.`);
  }},
  h('label', {for: 'new-amount'}, `New amount (${t.currency}) for future occurrences`, input),
  h('button', {type: 'submit', id: 'change-amount'}, 'Change amount'), error);
  return form;
}

function occurrencesView(list) {
  if (!list.length) return h('p', {class: 'muted'}, 'None: the schedule is over or the transfer ended.');
  return table('Next occurrences', [['#', 'num'], ['Date by the rule'], ['Scheduled for'], ['Due at']],
    list.map((o) => [String(o.sequence), o.unadjusted_date, o.scheduled_for, instant(o.due_at)]));
}

function jobsView(page, path, act) {
  const rows = page.data.map((j) => {
    const actions = [];
    if (j.status === 'PENDING') {
      actions.push(h('button', {type: 'button', class: 'quiet', 'data-action': 'skip', 'aria-label': `Skip occurrence ${j.sequence}`,
        onclick: () => act(`Skip occurrence ${j.sequence} (${j.scheduled_for})? No money moves for it.`, 'Skip',
          () => post(`/v1/jobs/${j.id}/skip`), `Occurrence ${j.sequence} skipped.`)}, 'Skip'));
    }
    if (j.status === 'FAILED') {
      actions.push(h('button', {type: 'button', 'data-action': 'retry', 'aria-label': `Retry occurrence ${j.sequence}`,
        onclick: () => act(`Retry occurrence ${j.sequence}? It is sent to the bank again with the same idempotency key.`, 'Retry',
          () => post(`/v1/jobs/${j.id}/retry`), `Occurrence ${j.sequence} queued for a retry.`)}, 'Retry'));
    }
    return [String(j.sequence), j.scheduled_for, instant(j.due_at), badge(j.status), badge(j.result),
      j.settlement_status ? badge(j.settlement_status) : '—', String(j.retries), timeline(j), actions];
  });
  const note = page.next_cursor ? h('p', {class: 'muted'}, `The first ${page.data.length} jobs; the API lists the rest (${path}/jobs).`) : null;
  return [table('Jobs', [['#', 'num'], ['Scheduled for'], ['Due at'], ['Status'], ['Result'], ['Settlement'], ['Retries', 'num'], ['Bank answers'], ['Actions']], rows), note];
}

// The job's provider-status timeline, fetched when opened: each answer with the bank's raw body.
function timeline(job) {
  const called = job.retries > 0 || job.provider_reference || !['PENDING', 'SKIPPED', 'CANCELLED'].includes(job.status);
  if (!called) return h('span', {class: 'muted'}, job.status === 'PENDING' ? 'not called yet' : 'never called');
  const list = h('div', {}, 'Loading…');
  const details = h('details', {class: 'timeline-box', 'data-job': job.sequence},
    h('summary', {}, `Bank answers of #${job.sequence}`), list);
  details.addEventListener('toggle', async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = '1';
    try {
      const answers = await get(`/v1/jobs/${job.id}/provider-statuses`);
      const items = answers.data.map((a) => h('li', {},
        h('div', {}, `${instant(a.created_at)}: attempt ${a.attempt}, `,
          a.http_status ? `HTTP ${a.http_status}` : 'no HTTP answer',
          a.code ? `, ${a.code}` : '', a.message ? `: ${a.message}` : ''),
        a.response_body ? h('pre', {class: 'raw'}, a.response_body) : null));
      replace(list, items.length ? h('ol', {class: 'timeline'}, items) : h('span', {class: 'muted'}, 'No answer recorded.'));
    } catch (e) {
      replace(list, message('alert', describe(e)));
    }
  });
  return details;
}

function historyView(entries, currency) {
  if (!entries.length) return h('p', {class: 'muted'}, 'No change recorded.');
  const side = (field, v) => {
    if (v === null || v === undefined) return '—';
    if (field === 'amount' && Number.isInteger(v)) return money(v, currency);
    return typeof v === 'string' ? v : JSON.stringify(v);
  };
  const change = (field, c) => `${field}: ${side(field, c.before)} → ${side(field, c.after)}`;
  return table('Change history', [['When'], ['Action'], ['By'], ['What changed']], entries.map((e) => [
    instant(e.created_at), e.action + (e.job_id ? ` (job ${e.job_id})` : ''), e.actor || '—',
    Object.entries(e.changes || {}).map(([k, v]) => h('div', {}, change(k, v)))]));
}
