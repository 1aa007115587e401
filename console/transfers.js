// Transfers: search by id, external_id, account and status; one page of 50 at a time (the API's
// cursor), never the whole list.
import {get, query} from './api.js';
import {badge, h, message, replace, table} from './dom.js';
import {money, scheduleWords} from './format.js';

const PAGE = 50;

export async function render(main, ctx) {
  const p = ctx.params;
  const field = (name, label, value, attrs = {}) => h('label', {for: `q-${name}`}, label,
    h('input', {id: `q-${name}`, name, value: value || '', ...attrs}));
  const status = h('select', {id: 'q-status', name: 'status'},
    ['', 'ACTIVE', 'PAUSED', 'CANCELLED', 'COMPLETED'].map((s) =>
      h('option', {value: s, selected: p.get('status') === s}, s || 'any')));
  const form = h('form', {class: 'row', role: 'search', 'aria-label': 'Search transfers', onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const id = String(data.get('id') || '').trim();
    if (id) {
      location.hash = `#/transfers/${encodeURIComponent(id)}`;
      return;
    }
    location.hash = `#/transfers${query({external_id: data.get('external_id').trim(), account: data.get('account').trim(), status: data.get('status')})}`;
  }},
  field('id', 'Transfer id', '', {size: 38, spellcheck: 'false'}),
  field('external_id', 'External id', p.get('external_id')),
  field('account', 'Account (source or destination)', p.get('account')),
  h('label', {for: 'q-status'}, 'Status', status),
  h('button', {type: 'submit'}, 'Search'));
  const results = h('div', {id: 'results'});
  replace(main, h('h1', {}, 'Transfers'), form, results);

  const filters = {external_id: p.get('external_id'), account: p.get('account'), status: p.get('status')};
  const cursors = [null];  // the cursor of each page shown so far, for "Previous"
  const load = async () => {
    const cursor = cursors[cursors.length - 1];
    const page = await get(`/v1/recurring-transfers${query({...filters, limit: PAGE, cursor})}`);
    if (!ctx.current()) return;
    if (!page.data.length) {
      replace(results, message('notice', 'No transfer matches.'));
      return;
    }
    const rows = page.data.map((t) => [
      h('a', {href: `#/transfers/${encodeURIComponent(t.id)}`, class: 'mono'}, t.id),
      t.external_id || '—', `${t.source_account} → ${t.destination_account}`,
      money(t.amount, t.currency), badge(t.status), scheduleWords(t.schedule), t.description]);
    const prev = h('button', {type: 'button', class: 'quiet', disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); }}, 'Previous page');
    const next = h('button', {type: 'button', class: 'quiet', disabled: !page.next_cursor, onclick: () => { cursors.push(page.next_cursor); load(); }}, 'Next page');
    replace(results,
      table('Transfers', [['Id'], ['External id'], ['Accounts'], ['Amount', 'num'], ['Status'], ['Schedule'], ['Description']], rows),
      h('div', {class: 'row'}, prev, next, h('span', {class: 'muted'}, `Page ${cursors.length}, ${page.data.length} shown`)));
  };
  await load();
}

