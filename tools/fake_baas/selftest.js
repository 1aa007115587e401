'use strict';
// Self-test of the fake BaaS: flow control (--max-rps, the outage switch, their counters), with
// the checks the fake banks run too (../fake_banks/test_support.js).
//   node --test tools/fake_baas/selftest.js

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { startServer, call, flowControlSuite, maxRpsFlagSuite } = require('../fake_banks/test_support');

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
});
