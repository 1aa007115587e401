// The console's shell: the sign-in form, the hash routes (#/overview, #/transfers,
// #/transfers/<id>, #/jobs, #/backups) and the page modules they render into <main>.
import {ApiError, api, describe, session, whenUnauthorized} from './api.js';
import {h, message, replace} from './dom.js';
import * as overview from './overview.js';
import * as transfers from './transfers.js';
import * as transfer from './transfer.js';
import * as jobs from './jobs.js';
import * as backups from './backups.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOutButton = document.getElementById('sign-out');
let cleanup = null;  // the current page's timers, stopped when the page changes
let generation = 0;  // bumped on every navigation: a page's late answers are dropped

function route() {
  const hash = location.hash.replace(/^#/, '') || '/overview';
  const [path, search] = hash.split('?');
  const params = new URLSearchParams(search || '');
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'transfers' && parts[1]) return {page: transfer, name: 'transfers', params, id: decodeURIComponent(parts[1])};
  const pages = {overview, transfers, jobs, backups};
  const name = pages[parts[0]] ? parts[0] : 'overview';
  return {page: pages[name], name, params};
}

async function show() {
  if (cleanup) cleanup();
  cleanup = null;
  const mine = ++generation;
  if (!session.token()) return showSignIn();
  nav.hidden = false;
  signOutButton.hidden = false;
  const r = route();
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${r.name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctx = {current: () => mine === generation, params: r.params, id: r.id};
  replace(main, h('p', {class: 'muted'}, 'Loading…'));
  try {
    const stop = await r.page.render(main, ctx);
    if (mine === generation) cleanup = stop || null;
    else if (stop) stop();
  } catch (e) {
    if (mine !== generation || (e instanceof ApiError && e.status === 401)) return;
    replace(main, h('h1', {}, 'Something went wrong'), message('alert', describe(e)));
  }
}

function showSignIn(error) {
  nav.hidden = true;
  signOutButton.hidden = true;
  const input = h('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true});
  const errorBox = h('div', {id: 'signin-error'});
  if (error) replace(errorBox, message('alert', error));
  const form = h('form', {onsubmit: (event) => { event.preventDefault(); signIn(input.value.trim(), errorBox); }},
    h('label', {for: 'token'}, 'API token', input),
    h('button', {type: 'submit'}, 'Sign in'),
    errorBox);
  replace(main, h('section', {class: 'signin', 'aria-labelledby': 'signin-title'},
    h('h1', {id: 'signin-title'}, 'Sign in'),
    h('p', {class: 'muted'}, 'The console acts with an API token of this server (RT_API_TOKEN or one of RT_API_TOKENS). It is kept in this browser tab only.'),
    form));
  input.focus();
}

async function signIn(token, errorBox) {
  if (!token) return;
  session.signIn(token);
  try {
    await api('GET', '/v1/recurring-transfers?limit=1', {quiet401: true});
  } catch (e) {
    session.signOut();
    const text = e instanceof ApiError && e.status === 401
      ? 'Sign-in failed: this token was refused. Check it and try again.'
      : `Sign-in failed: ${describe(e)}`;
    replace(errorBox, message('alert', text));
    return;
  }
  show();
}

whenUnauthorized(() => {
  session.signOut();
  if (cleanup) cleanup();
  cleanup = null;
  generation++;
  showSignIn('Your token was refused (HTTP 401). Sign in again.');
});

signOutButton.addEventListener('click', () => {
  session.signOut();
  show();
});
window.addEventListener('hashchange', show);
show();
