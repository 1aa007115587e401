// Backups: the history (GET /v1/backups) and "run now" (POST /v1/backups), which starts a run
// by the cron's rules and shows its progress until it ends.
import {ApiError, describe, get, post} from './api.js';
import {confirmAction, h, message, replace, table} from './dom.js';
import {instant} from './format.js';

export async function render(main, ctx) {
  const outcome = h('div', {id: 'backup-status', 'aria-live': 'polite'});
  const list = h('div', {id: 'backup-list'});
  let timer = null;
  const run = h('button', {type: 'button', id: 'run-backup', onclick: async () => {
    if (!(await confirmAction('Run a backup now? Jobs old enough are saved to the object store, then deleted from the database.', 'Run backup'))) return;
    try {
      const started = await post('/v1/backups');
      replace(outcome, message('success', `Backup ${started.id} started (${started.status}).`));
      follow(started.id);
    } catch (e) {
      replace(outcome, message('alert', `Not started: ${describe(e)}`));
    }
  }}, 'Run backup now');
  replace(main, h('h1', {}, 'Backups'), h('div', {class: 'row'}, run), outcome, list);

  // Polls the run until it ends, then reloads the history.
  const follow = (id) => {
    clearInterval(timer);
    timer = setInterval(async () => {
      try {
        const r = await get(`/v1/backups/${id}`);
        if (!ctx.current()) return clearInterval(timer);
        if (r.status === 'running') return;
        clearInterval(timer);
        replace(outcome, message(r.status === 'failed' ? 'alert' : 'success',
          `Backup ${id} ${r.status}${r.error ? `: ${r.error.message || r.error}` : ''}.`));
        await load();
      } catch (e) {
        clearInterval(timer);
        replace(outcome, message('alert', describe(e)));
      }
    }, 1000);
  };

  const load = async () => {
    let history;
    try {
      history = await get('/v1/backups?limit=50');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        run.disabled = true;
        replace(list, message('notice', 'Backups are not configured on this server (RT_BACKUP_URL).'));
        return;
      }
      throw e;
    }
    if (!ctx.current()) return;
    const last = h('p', {}, 'Last backup that saved rows: ', history.last_backup_at ? instant(history.last_backup_at) : 'never');
    replace(list, last, history.data.length
      ? table('Backup history', [['When'], ['Jobs saved', 'num'], ['Bank answers saved', 'num'], ['Bytes', 'num'], ['Id']],
        history.data.map((b) => [instant(b.backup_at), String(b.job_rows), String(b.provider_status_rows), String(b.bytes), h('span', {class: 'mono'}, b.id)]))
      : h('p', {class: 'muted'}, 'No backup has saved rows yet.'));
  };
  await load();
  return () => clearInterval(timer);
}
