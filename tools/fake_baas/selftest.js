'use strict';
// Self-test of the fake BaaS: flow control (--max-rps, the outage switch, their counters), with
// the checks the fake banks run too (../fake_banks/test_support.js).
//   node --test tools/fake_baas/selftest.js

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const crypto = require('node:crypto');
const { startServer, call, flowControlSuite, maxRpsFlagSuite, startReceiver } = require('../fake_banks/test_support');

const SERVER = path.join(__dirname, 'server.js');
const TOKEN = ['--token', 'baas_tok'];
const AUTH = { Authorization: 'Bearer baas_tok' };

function transfer(key) {
  return { path: '/transfers', headers: { ...AUTH, 'Content-Type': 'application/json', 'Idempotency-Key': key },
    body: { amount: 100, currency: 'USD', source_account: 'acc_src', destination_account: 'acc_dest',
      description: 'rent', reference: key } };
}

function success(r) {
  assert.equal(r.status, 201);
  assert.equal(r.json.status, 'executed');
}

function rateLimited(r, seconds) {
  assert.equal(r.status, 429);
  assert.deepEqual(r.json, { error: { code: 'rate_limited', message: 'too many requests' } });
  assert.equal(r.headers.get('retry-after'), String(seconds));
}

function outage(r) {
  assert.equal(r.status, 503);
  assert.equal(r.json.error.code, 'service_unavailable');
}

describe('fake_baas', () => {
  let fake;
  before(async () => {
    fake = await startServer(SERVER, TOKEN);
  });
  after(() => fake.stop());

  it('executes a transfer and answers the control API', async () => {
    await call(fake.base, 'POST', '/_control/reset', { body: {} });
    success(await call(fake.base, 'POST', '/transfers', transfer('plain-1')));
    const stats = (await call(fake.base, 'GET', '/_control/stats')).json;
    assert.equal(stats.executed, 1);
    assert.equal(stats.accepted_max_per_second, 1);
  });

  flowControlSuite({
    base: () => fake.base,
    transfer,
    lookup: { path: '/transfers/none', headers: AUTH },
    success,
    rateLimited,
    outage,
  });

  maxRpsFlagSuite({ start: (extra) => startServer(SERVER, [...TOKEN, ...extra]), script: SERVER, args: TOKEN,
    transfer, success, rateLimited });

  it('looks a transfer up by id: settled at once without --settle', async () => {
    await call(fake.base, 'POST', '/_control/reset', { body: {} });
    const made = await call(fake.base, 'POST', '/transfers', transfer('lookup-1'));
    success(made);
    const got = await call(fake.base, 'GET', `/transfers/${made.json.id}`, { headers: AUTH });
    assert.deepEqual(got.json, { id: made.json.id, status: 'settled', settled_at: made.json.executed_at });
    assert.equal((await call(fake.base, 'GET', `/transfers/${made.json.id}`)).status, 401);
    assert.equal((await call(fake.base, 'GET', '/transfers/tr_none', { headers: AUTH })).status, 404);
    // A return can still come after settlement.
    assert.equal((await call(fake.base, 'POST', '/_control/return', { body: { id: made.json.id, code: 'R10' } })).status, 200);
    const back = (await call(fake.base, 'GET', `/transfers/${made.json.id}`, { headers: AUTH })).json;
    assert.equal(back.status, 'returned');
    assert.equal(back.return_code, 'R10');
  });
});

// Standard Webhooks, verified by hand: key = the base64-decoded part of "whsec_..." (or the UTF-8
// bytes of a secret without the prefix), signed content id.timestamp.body.
function verifyStandard(d, secret) {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
  const id = d.headers['webhook-id'];
  const ts = d.headers['webhook-timestamp'];
  assert.match(id, /^msg_/);
  assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 300);
  const expected = `v1,${crypto.createHmac('sha256', key).update(`${id}.${ts}.${d.body}`).digest('base64')}`;
  assert.equal(d.headers['webhook-signature'], expected);
  assert.equal(d.headers['content-type'], 'application/json');
  assert.equal(d.json.type, 'transfer.updated');
  assert.ok(!Number.isNaN(Date.parse(d.json.timestamp)));
  return id;
}

describe('fake_baas --settle: pending transfers, returns and webhooks', () => {
  const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  let fake;
  let hooks;
  let n = 0;
  const control = (p, body) => call(fake.base, body === undefined ? 'GET' : 'POST', `/_control/${p}`, { body });
  const create = async () => {
    const r = await call(fake.base, 'POST', '/transfers', transfer(`settle-${++n}`));
    assert.equal(r.status, 201);
    assert.equal(r.json.status, 'pending');
    return r.json.id;
  };
  const look = async (id) => (await call(fake.base, 'GET', `/transfers/${id}`, { headers: AUTH })).json;

  before(async () => {
    hooks = await startReceiver();
    fake = await startServer(SERVER, [...TOKEN, '--settle', '--webhook-url', hooks.url, '--webhook-secret', SECRET]);
  });
  after(async () => {
    fake.stop();
    await hooks.close();
  });
  beforeEach(async () => {
    await control('reset', {});
    hooks.reset();
  });

  it('answers pending, settles and returns by control call, with signed webhooks', async () => {
    const id = await create();
    assert.deepEqual(await look(id), { id, status: 'pending' });
    const settled = await control('settle', { id });
    assert.equal(settled.json.status, 'settled');
    const got = await look(id);
    assert.equal(got.status, 'settled');
    assert.ok(got.settled_at);
    const [first] = await hooks.count(1);
    verifyStandard(first, SECRET);
    assert.deepEqual(first.json.data, got);
    await control('return', { id, code: 'R01' });
    assert.deepEqual(await look(id), { id, status: 'returned', settled_at: got.settled_at, return_code: 'R01',
      reason: 'Insufficient Funds' });
    const list = await hooks.count(2);
    assert.notEqual(verifyStandard(list[1], SECRET), first.headers['webhook-id']);
    assert.equal(list[1].json.data.return_code, 'R01');
    assert.equal((await control('cancel', { id })).status, 409);
    const c = await create();
    assert.equal((await control('cancel', { id: c })).json.status, 'canceled');
    assert.equal((await look(c)).status, 'canceled');
    // The ledger: a canceled or returned transfer's money went back.
    const balances = (await control('balances')).json;
    assert.equal(balances.acc_src, String(10n ** 15n));
  });

  it('retries a refused delivery after 1 s with the same webhook-id', async () => {
    hooks.answer = (d, i) => (i === 0 ? 500 : 200);
    const id = await create();
    await control('settle', { id });
    const list = await hooks.count(2);
    assert.deepEqual(list.map((d) => d.status), [500, 200]);
    assert.equal(verifyStandard(list[1], SECRET), verifyStandard(list[0], SECRET));
    assert.equal(list[1].body, list[0].body);
    const ev = (await control('webhooks')).json.events[0];
    assert.equal(ev.transfer_id, id);
    assert.deepEqual(ev.attempts.map((a) => a.status), [500, 200]);
    const at = ev.attempts.map((a) => Date.parse(a.at));
    assert.ok(at[1] - at[0] >= 900, `retried after ${at[1] - at[0]} ms`);
    const stats = (await control('stats')).json;
    assert.deepEqual([stats.webhooks_sent, stats.webhooks_failed], [1, 1]);
  });

  it('holds, releases in reverse, replays with the same id', async () => {
    await control('webhooks/hold', {});
    const ids = [await create(), await create(), await create()];
    for (const id of ids) await control('settle', { id });
    assert.equal(hooks.deliveries.length, 0);
    await control('webhooks/release', { order: 'reverse' });
    const list = await hooks.count(3);
    assert.deepEqual(list.map((d) => d.json.data.id), ids.slice().reverse());
    const id0 = verifyStandard(list[2], SECRET);
    await control('webhooks/replay', { event_id: id0 });
    const again = (await hooks.count(4))[3];
    assert.equal(verifyStandard(again, SECRET), id0);
    assert.equal(again.body, list[2].body);
  });

  it('settles after settle_after_ms, returns with return_code; a plain secret is its UTF-8 bytes', async () => {
    await control('webhook', { url: hooks.url, secret: 'plain-secret' });
    assert.deepEqual((await control('settlement', { settle_after_ms: 5, return_code: 'R09' })).json,
      { settle_after_ms: 5, return_code: 'R09', pending: true });
    const id = await create();
    const [d] = await hooks.count(1);
    verifyStandard(d, 'plain-secret');
    assert.equal(d.json.data.status, 'returned');
    assert.equal((await look(id)).return_code, 'R09');
    await control('settlement', { pending: false, settle_after_ms: null });
    const r = await call(fake.base, 'POST', '/transfers', transfer(`settle-${++n}`));
    success(r);
    assert.equal((await control('settlement', { pending: 'yes' })).status, 400);
  });
});
