'use strict';
// Self-test of the fake banks: starts each bank as a child process and talks to it over HTTP.
//   node --test tools/fake_banks/selftest.js

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const crypto = require('node:crypto');
const { startServer, exitStatus, call, flowControlSuite, maxRpsFlagSuite, startReceiver } = require('./test_support');
const { FlowControl } = require('./lib/flow_control');
const { standardHeaders, standardKey, hmac } = require('./lib/webhooks');

const SERVER = path.join(__dirname, 'server.js');

function basic(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

// Starts `server.js --bank <bank>` and resolves once it printed its port.
function startBank(bank, args) {
  return startServer(SERVER, ['--bank', bank, ...args]);
}

// A valid book transfer for `cfg`'s bank with the key `key`, credentials and Content-Type included.
function bookTransfer(cfg, key) {
  const r = cfg.request('book', 'acc_src', key);
  return { path: r.path, headers: { ...cfg.auth, 'Content-Type': cfg.json, ...r.headers }, body: r.body };
}

// What each bank's requests and answers look like, as the adapters will see them.
// (`down` is the status of the down_/flaky behaviours; `outage` the shape of /_control/outage.)
const BANKS = {
  increase: {
    lookup: '/account_transfers?idempotency_key=none', // an API GET, for flow control
    args: ['--token', 'tok_1'],
    auth: { Authorization: 'Bearer tok_1' },
    badAuth: { Authorization: 'Bearer tok_2' },
    json: 'application/json',
    request(rail, source, key, variant = 0) {
      const headers = key ? { 'Idempotency-Key': key } : {};
      if (rail === 'book') {
        return { path: '/account_transfers', headers, body: { account_id: source, amount: 100 + variant,
          description: 'rent', destination_account_id: 'account_dest' } };
      }
      return { path: '/ach_transfers', headers, body: { account_id: source, amount: 250 + variant,
        statement_descriptor: 'RENT', external_account_id: 'external_account_1' } };
    },
    success(r, rail) {
      assert.equal(r.status, 200);
      assert.equal(r.json.status, rail === 'book' ? 'complete' : 'pending_submission');
      assert.match(r.json.id, rail === 'book' ? /^account_transfer_/ : /^ach_transfer_/);
      return r.json.id;
    },
    unauthorized(r) {
      assert.equal(r.status, 401);
      assert.equal(r.json.type, 'invalid_api_key_error');
    },
    replay(r, firstId) {
      assert.equal(r.status, 200);
      assert.equal(r.json.id, firstId);
      assert.equal(r.headers.get('idempotent-replayed'), 'true');
    },
    differentBody(r, firstId) {
      assert.equal(r.status, 409);
      assert.equal(r.json.type, 'idempotency_key_already_used_error');
      assert.equal(r.json.resource_id, firstId);
    },
    concurrent(r) {
      assert.equal(r.status, 409);
      assert.equal(r.json.type, 'idempotency_key_already_used_error');
    },
    declined(r) {
      assert.equal(r.status, 409);
      assert.equal(r.json.type, 'invalid_operation_error');
      assert.equal(r.json.detail, "There's an insufficient balance in the account.");
    },
    rateLimited(r, n) {
      assert.equal(r.status, 429);
      assert.equal(r.json.type, 'rate_limited_error');
      assert.equal(r.json.retry_after, n);
    },
    outage(r) {
      assert.equal(r.status, 503);
      assert.deepEqual(r.json, { type: 'internal_server_error', status: 503,
        title: 'The service is temporarily unavailable.', detail: null });
    },
    down: 500,
    tooLarge(r) {
      assert.equal(r.status, 413);
    },
  },

  column: {
    lookup: '/transfers/book/none', // an API GET, for flow control
    args: ['--api-key', 'test_key'],
    auth: { Authorization: basic('', 'test_key') },
    badAuth: { Authorization: basic('test_key', '') }, // the key as user name instead of password
    json: 'application/json',
    request(rail, source, key, variant = 0) {
      const headers = key ? { 'Idempotency-Key': key } : {};
      if (rail === 'book') {
        return { path: '/transfers/book', headers, body: { amount: 100 + variant, currency_code: 'USD',
          sender_bank_account_id: source, receiver_bank_account_id: 'bacc_dest', description: 'rent' } };
      }
      return { path: '/transfers/ach', headers, body: { amount: 250 + variant, currency_code: 'USD',
        type: 'CREDIT', entry_class_code: 'CCD', bank_account_id: source, counterparty_id: 'cpty_1' } };
    },
    success(r, rail) {
      assert.equal(r.status, 200);
      assert.equal(r.json.status, rail === 'book' ? 'COMPLETED' : 'INITIATED');
      assert.match(r.json.id, rail === 'book' ? /^book_/ : /^acht_/);
      return r.json.id;
    },
    unauthorized(r) {
      assert.equal(r.status, 401);
      assert.equal(r.json.type, 'authentication_error');
    },
    replay(r, firstId) {
      assert.equal(r.status, 200);
      assert.equal(r.json.id, firstId);
      assert.equal(r.headers.get('idempotent-replayed'), null);
    },
    differentBody(r) {
      assert.equal(r.status, 400);
      assert.equal(r.json.code, 'idempotency_key_reused');
    },
    concurrent(r) {
      assert.equal(r.status, 409);
      assert.equal(r.json.code, 'idempotency_key_in_use');
    },
    declined(r) {
      assert.equal(r.status, 400);
      assert.equal(r.json.code, 'insufficient_funds');
      assert.deepEqual(Object.keys(r.json), ['type', 'code', 'message', 'documentation_url', 'details']);
    },
    rateLimited(r) {
      assert.equal(r.status, 429);
      assert.equal(r.json.type, 'rate_limit_error');
      assert.equal(r.json.code, 'too_many_requests');
    },
    outage(r) {
      assert.equal(r.status, 503);
      assert.equal(r.json.type, 'api_error');
      assert.equal(r.json.code, 'service_unavailable');
      assert.deepEqual(Object.keys(r.json), ['type', 'code', 'message', 'documentation_url', 'details']);
    },
    down: 503,
    tooLarge(r) {
      assert.equal(r.status, 413);
    },
  },

  unit: {
    lookup: '/payments', // an API GET, for flow control
    args: ['--token', 'unit_tok'],
    auth: { Authorization: 'Bearer unit_tok' },
    badAuth: {},
    json: 'application/vnd.api+json',
    request(rail, source, key, variant = 0) {
      const keyed = key ? { idempotencyKey: key, tags: { rtjobs_key: key } } : {};
      if (rail === 'book') {
        return { path: '/payments', headers: {}, body: { data: { type: 'bookPayment',
          attributes: { amount: 100 + variant, description: 'rent', ...keyed },
          relationships: { account: { data: { type: 'depositAccount', id: source } },
            counterpartyAccount: { data: { type: 'depositAccount', id: '2002' } } } } } };
      }
      return { path: '/payments', headers: {}, body: { data: { type: 'achPayment',
        attributes: { amount: 250 + variant, direction: 'Credit', description: 'RENT', ...keyed },
        relationships: { account: { data: { type: 'depositAccount', id: source } },
          counterparty: { data: { type: 'counterparty', id: '3003' } } } } } };
    },
    success(r, rail) {
      assert.equal(r.status, 201);
      assert.equal(r.json.data.type, rail === 'book' ? 'bookPayment' : 'achPayment');
      assert.equal(r.json.data.attributes.status, rail === 'book' ? 'Sent' : 'Pending');
      assert.match(r.json.data.id, /^\d+$/);
      return r.json.data.id;
    },
    unauthorized(r) {
      assert.equal(r.status, 401);
      assert.equal(r.json.errors[0].status, '401');
    },
    replay(r, firstId) {
      assert.equal(r.status, 201);
      assert.equal(r.json.data.id, firstId);
    },
    differentBody(r, firstId) { // the original, silently
      assert.equal(r.status, 201);
      assert.equal(r.json.data.id, firstId);
    },
    concurrent(r) {
      assert.equal(r.status, 409);
      assert.equal(r.json.errors[0].status, '409');
    },
    declined(r) {
      assert.equal(r.status, 201);
      assert.equal(r.json.data.attributes.status, 'Rejected');
      assert.equal(r.json.data.attributes.reason, 'InsufficientFunds');
    },
    rateLimited(r) {
      assert.equal(r.status, 429);
      assert.equal(r.json.errors[0].status, '429');
    },
    outage(r) {
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('content-type'), 'application/vnd.api+json; charset=utf-8');
      assert.equal(r.json.errors[0].status, '503');
      assert.equal(r.json.errors[0].title, 'Service Unavailable');
    },
    down: 503,
    tooLarge(r) {
      assert.equal(r.status, 413);
      assert.equal(r.json.errors[0].status, '413');
    },
  },

  treasury_prime: {
    lookup: '/book/none', // an API GET, for flow control
    args: ['--key-id', 'key_id_1', '--secret', 'sec_1'],
    auth: { Authorization: basic('key_id_1', 'sec_1') },
    badAuth: { Authorization: basic('key_id_1', 'wrong') },
    json: 'application/json',
    request(rail, source, key, variant = 0) {
      const headers = key ? { 'X-Idempotency-Key': key } : {};
      if (rail === 'book') {
        return { path: '/book', headers, body: { amount: `1.0${variant}`, from_account_id: source,
          to_account_id: 'acct_dest', description: 'rent' } };
      }
      return { path: '/ach', headers, body: { account_id: source, amount: `2.5${variant}`,
        counterparty_id: 'cp_1', direction: 'credit', sec_code: 'ccd' } };
    },
    success(r, rail) {
      assert.equal(r.status, 200);
      assert.equal(r.json.status, 'pending');
      assert.equal(r.json.error, null);
      assert.match(r.json.id, rail === 'book' ? /^book_/ : /^ach_/);
      return r.json.id;
    },
    unauthorized(r) {
      assert.equal(r.status, 401);
      assert.equal(typeof r.json.error, 'string');
    },
    replay(r, firstId) {
      assert.equal(r.status, 200);
      assert.equal(r.json.id, firstId);
      assert.equal(r.json.status, 'pending'); // the original answer, even after a GET saw "sent"
    },
    differentBody(r, firstId) { // the original, silently
      assert.equal(r.status, 200);
      assert.equal(r.json.id, firstId);
    },
    concurrent(r) {
      assert.equal(r.status, 409);
      assert.equal(typeof r.json.error, 'string');
    },
    declined(r) {
      assert.equal(r.status, 200);
      assert.equal(r.json.status, 'error');
      assert.equal(r.json.error, 'Insufficient funds');
    },
    rateLimited(r) {
      assert.equal(r.status, 429);
      assert.deepEqual(r.json, { error: 'Too many requests' });
    },
    outage(r) {
      assert.equal(r.status, 503);
      assert.deepEqual(r.json, { error: 'Service unavailable' });
    },
    down: 502,
    tooLarge(r) {
      assert.equal(r.status, 413);
    },
  },
};

for (const [name, cfg] of Object.entries(BANKS)) {
  describe(name, () => {
    let bank;
    let n = 0;
    const key = () => `key-${name}-${++n}`;
    const post = (req, { auth = cfg.auth, contentType = cfg.json, raw } = {}) => call(bank.base, 'POST', req.path,
      { headers: { ...auth, 'Content-Type': contentType, ...req.headers }, body: raw ?? req.body });
    const get = (p, auth = cfg.auth) => call(bank.base, 'GET', p, { headers: auth });
    const control = (p, body) => call(bank.base, body === undefined ? 'GET' : 'POST', `/_control/${p}`, { body });
    const transfers = async () => (await control('transfers')).json.transfers;

    before(async () => {
      bank = await startBank(name, cfg.args);
    });
    after(() => bank.stop());
    beforeEach(async () => {
      await control('reset', {});
    });

    it('refuses missing or wrong credentials and never executes', async () => {
      const req = cfg.request('book', 'acc_src', key());
      cfg.unauthorized(await post(req, { auth: {} }));
      cfg.unauthorized(await post(req, { auth: cfg.badAuth }));
      assert.deepEqual(await transfers(), []);
      const attempts = (await control('attempts')).json.attempts;
      assert.equal(attempts.length, 2);
      assert.deepEqual(attempts.map((a) => a.status), [401, 401]);
      // The same request with the right credentials is then executed: nothing was remembered.
      cfg.success(await post(req), 'book');
    });

    it('executes one transfer per rail', async () => {
      const bookId = cfg.success(await post(cfg.request('book', 'acc_src', key())), 'book');
      const achId = cfg.success(await post(cfg.request('ach', 'acc_src', key())), 'ach');
      const t = await transfers();
      assert.deepEqual(t.map((x) => [x.id, x.kind]), [[bookId, 'book'], [achId, 'ach']]);
      const sent = cfg.request('book', 'acc_src', null).body;
      const amount = name === 'unit' ? sent.data.attributes.amount
        : sent.amount; // exactly as the bank received it: integer or decimal string
      assert.equal(t[0].amount, amount);
    });

    it('replays the same key and body without a second transfer', async () => {
      const k = key();
      const firstId = cfg.success(await post(cfg.request('book', 'acc_src', k)), 'book');
      if (name === 'treasury_prime') assert.equal((await get(`/book/${firstId}`)).json.status, 'sent');
      cfg.replay(await post(cfg.request('book', 'acc_src', k)), firstId);
      assert.equal((await transfers()).length, 1);
    });

    it('answers a reused key with a different body as the bank does', async () => {
      const k = key();
      const firstId = cfg.success(await post(cfg.request('book', 'acc_src', k)), 'book');
      cfg.differentBody(await post(cfg.request('book', 'acc_src', k, 5)), firstId);
      assert.equal((await transfers()).length, 1);
    });

    it('executes 20 concurrent requests with one key at most once', async () => {
      await control('latency', { ms: 300 });
      const k = key();
      const answers = await Promise.all(Array.from({ length: 20 }, () => post(cfg.request('book', 'acc_src', k))));
      assert.equal((await transfers()).length, 1);
      const ok = answers.filter((r) => r.status >= 200 && r.status < 300);
      assert.equal(ok.length, 1);
      for (const r of answers.filter((x) => x.status >= 300)) cfg.concurrent(r);
      assert.equal((await control('stats')).json.peak_in_flight, 20);
    });

    it('declines for insufficient funds without moving money', async () => {
      cfg.declined(await post(cfg.request('book', 'decline_acc', key())));
      cfg.declined(await post(cfg.request('ach', 'decline_acc', key())));
      assert.deepEqual(await transfers(), []);
    });

    it('rate-limits with Retry-After and executes nothing', async () => {
      const k = key();
      const r = await post(cfg.request('book', 'ratelimit3_acc', k));
      cfg.rateLimited(r, 3);
      assert.equal(r.headers.get('retry-after'), '3');
      const bare = await post(cfg.request('book', 'ratelimitbare_acc', key()));
      assert.equal(bare.status, 429);
      assert.equal(bare.headers.get('retry-after'), null);
      assert.deepEqual(await transfers(), []);
      // Not remembered: once the limit is lifted, the same key executes.
      await control('behaviour', { account: 'ratelimit3_acc', behaviour: 'normal' });
      cfg.success(await post(cfg.request('book', 'ratelimit3_acc', k)), 'book');
    });

    it('fails flaky<N> accounts N times per key, then executes', async () => {
      const k = key();
      assert.equal((await post(cfg.request('book', 'flaky2_acc', k))).status, cfg.down);
      assert.equal((await post(cfg.request('book', 'flaky2_acc', k))).status, cfg.down);
      cfg.success(await post(cfg.request('book', 'flaky2_acc', k)), 'book');
      assert.equal((await post(cfg.request('book', 'down_acc', key()))).status, cfg.down);
      assert.equal((await transfers()).length, 1);
    });

    it('refuses bodies over 1 MiB with 413', async () => {
      const req = cfg.request('book', 'acc_src', key());
      const big = JSON.stringify(req.body).replace(/}$/, `,"pad":"${'x'.repeat(1024 * 1024)}"}`);
      cfg.tooLarge(await post(req, { raw: big }));
      assert.deepEqual(await transfers(), []);
      // The connection stays usable and a normal request still works.
      cfg.success(await post(req), 'book');
    });

    it('records attempts byte-exact, counts stats, and resets', async () => {
      const req = cfg.request('ach', 'acc_src', key());
      const raw = `  ${JSON.stringify(req.body)}\n`;
      await post(req, { raw });
      await get('/nowhere');
      const attempts = (await control('attempts')).json.attempts;
      assert.equal(attempts.length, 2);
      assert.equal(attempts[0].body, raw);
      assert.equal(attempts[0].authorization, cfg.auth.Authorization);
      assert.equal(attempts[0].content_type, cfg.json);
      assert.equal(attempts[0].method, 'POST');
      assert.ok(attempts[0].idempotency_key);
      assert.equal(attempts[1].method, 'GET');
      const stats = (await control('stats')).json;
      assert.equal(stats.executed, 1);
      assert.equal(stats.requests, 2);
      assert.equal(stats.in_flight, 0);
      assert.equal((await call(bank.base, 'GET', '/healthz')).status, 200);
      await control('reset', {});
      assert.deepEqual((await control('attempts')).json.attempts, []);
      assert.equal((await control('stats')).json.executed, 0);
    });

    it('overrides an account behaviour through the control API', async () => {
      assert.equal((await control('behaviour', { account: 'plain_acc', behaviour: 'decline' })).status, 200);
      cfg.declined(await post(cfg.request('book', 'plain_acc', key())));
      await control('behaviour', { account: 'plain_acc', behaviour: 'normal' });
      cfg.success(await post(cfg.request('book', 'plain_acc', key())), 'book');
      assert.equal((await control('behaviour', { account: 'x', behaviour: 'bogus' })).status, 400);
    });

    it('answers slow<MS> late but has moved the money already', async () => {
      const started = Date.now();
      const pending = post(cfg.request('book', 'slow300_acc', key()));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await transfers()).length, 1);
      cfg.success(await pending, 'book');
      assert.ok(Date.now() - started >= 290);
    });

    flowControlSuite({
      base: () => bank.base,
      transfer: (k) => bookTransfer(cfg, k),
      lookup: { path: cfg.lookup, headers: cfg.auth },
      success: (r) => cfg.success(r, 'book'),
      rateLimited: (r, seconds) => cfg.rateLimited(r, seconds),
      outage: (r) => cfg.outage(r),
    });
  });
}

// The sliding window on an injected clock: exact, no waiting.
describe('flow control window', () => {
  const flowAt = (maxRps) => {
    const clock = { t: 0 };
    return { clock, flow: new FlowControl(maxRps, () => clock.t) };
  };

  it('accepts max_rps requests in any 1000 ms and counts the rest as rate limited', () => {
    const { clock, flow } = flowAt(3);
    for (const t of [0, 10, 20]) {
      clock.t = t;
      assert.equal(flow.admit(), null);
    }
    clock.t = 999;
    assert.deepEqual(flow.admit(), { retryAfter: 1 }); // room at 1000
    clock.t = 1000; // the one accepted at 0 is 1000 ms old: out of the window
    assert.equal(flow.admit(), null);
    assert.deepEqual(flow.admit(), { retryAfter: 1 });
    clock.t = 1010;
    assert.equal(flow.admit(), null);
    assert.deepEqual(flow.stats, { rate_limited: 2, outage_rejected: 0, accepted_max_per_second: 3 });
  });

  it('counts the busiest second exactly, with or without a limit', () => {
    const { clock, flow } = flowAt(null);
    for (const t of [0, 500, 999, 1500, 1501, 1502, 2600]) {
      clock.t = t;
      assert.equal(flow.admit(), null);
    }
    // The busiest: the second before 1502, (502, 1502], holds 999, 1500, 1501, 1502.
    assert.equal(flow.stats.accepted_max_per_second, 4);
  });

  it('gives Retry-After for a limit lowered below what the window holds', () => {
    const { clock, flow } = flowAt(null);
    for (const t of [0, 100, 200, 300]) {
      clock.t = t;
      flow.admit();
    }
    assert.equal(flow.control('/_control/rate-limit', { max_rps: 1 }).status, 200);
    clock.t = 301;
    assert.deepEqual(flow.admit(), { retryAfter: 1 }); // room at 1300, when the one at 300 leaves
    clock.t = 1299;
    assert.deepEqual(flow.admit(), { retryAfter: 1 });
    clock.t = 1300;
    assert.equal(flow.admit(), null);
  });

  it('holds everything back during an outage; drops unread only in mode refuse', () => {
    const { flow } = flowAt(null);
    assert.equal(flow.control('/_control/outage', { down: true }).status, 200);
    assert.equal(flow.dropsUnread(), false);
    assert.deepEqual(flow.admit(), { outage: '503' });
    flow.control('/_control/outage', { down: true, mode: 'refuse' });
    assert.equal(flow.dropsUnread(), true);
    flow.control('/_control/outage', { down: false });
    assert.equal(flow.admit(), null);
    assert.deepEqual(flow.stats, { rate_limited: 0, outage_rejected: 2, accepted_max_per_second: 1 });
    assert.equal(flow.control('/_control/latency', {}), null);
  });
});

describe('bank-specific behaviour', () => {
  it('exits with an error when the bank\'s credentials are missing', () => {
    for (const [bank, args] of [['increase', []], ['column', ['--token', 'x']], ['unit', []],
      ['treasury_prime', ['--key-id', 'i']]]) {
      assert.equal(exitStatus(SERVER, ['--bank', bank, ...args]), 2, bank);
    }
  });

  maxRpsFlagSuite({
    start: (extra) => startBank('column', [...BANKS.column.args, ...extra]),
    script: SERVER,
    args: ['--bank', 'column', ...BANKS.column.args],
    transfer: (k) => bookTransfer(BANKS.column, k),
    success: (r) => BANKS.column.success(r, 'book'),
    rateLimited: (r, seconds) => BANKS.column.rateLimited(r, seconds),
  });

  it('increase: wrong amount types, lookup by idempotency key, long keys', async () => {
    const { child, base } = await startBank('increase', BANKS.increase.args);
    try {
      const h = { ...BANKS.increase.auth, 'Content-Type': 'application/json' };
      for (const amount of ['50.00', 50.5, 0]) {
        const r = await call(base, 'POST', '/account_transfers', { headers: h,
          body: { account_id: 'a', amount, description: 'd', destination_account_id: 'b' } });
        assert.equal(r.status, 400);
        assert.equal(r.json.type, 'invalid_parameters_error');
        assert.equal(r.json.errors[0].field, 'amount');
      }
      const unknown = await call(base, 'POST', '/account_transfers', { headers: h,
        body: { account_id: 'a', amount: 1, description: 'd', destination_account_id: 'b', extra: 1 } });
      assert.equal(unknown.json.type, 'invalid_parameters_error');
      const long = await call(base, 'POST', '/account_transfers', { headers: { ...h, 'Idempotency-Key': 'k'.repeat(201) },
        body: { account_id: 'a', amount: 1, description: 'd', destination_account_id: 'b' } });
      assert.equal(long.status, 400);
      const made = await call(base, 'POST', '/ach_transfers', { headers: { ...h, 'Idempotency-Key': 'look-me-up' },
        body: { account_id: 'a', amount: -300, statement_descriptor: 'PULL', account_number: '123',
          routing_number: '101050001', standard_entry_class_code: 'prearranged_payments_and_deposit' } });
      assert.equal(made.status, 200);
      const found = await call(base, 'GET', '/ach_transfers?idempotency_key=look-me-up', { headers: BANKS.increase.auth });
      assert.deepEqual(found.json, { data: [made.json], next_cursor: null });
      const none = await call(base, 'GET', '/ach_transfers?idempotency_key=nope', { headers: BANKS.increase.auth });
      assert.deepEqual(none.json, { data: [], next_cursor: null });
      assert.equal((await call(base, 'GET', '/ach_transfers?idempotency_key=x')).status, 401);
      const one = await call(base, 'GET', `/ach_transfers/${made.json.id}`, { headers: BANKS.increase.auth });
      assert.equal(one.json.id, made.json.id);
      const sd = await call(base, 'POST', '/ach_transfers', { headers: h,
        body: { account_id: 'a', amount: 1, statement_descriptor: 'ELEVEN CHRS', external_account_id: 'e' } });
      assert.equal(sd.status, 400);
      // A refusal is remembered: the same key answers the same 409 again, as a replay.
      const k = { ...h, 'Idempotency-Key': 'declined-once' };
      const body = { account_id: 'decline_a', amount: 1, description: 'd', destination_account_id: 'b' };
      assert.equal((await call(base, 'POST', '/account_transfers', { headers: k, body })).status, 409);
      await call(base, 'POST', '/_control/behaviour', { body: { account: 'decline_a', behaviour: 'normal' } });
      const again = await call(base, 'POST', '/account_transfers', { headers: k, body });
      assert.equal(again.status, 409);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      const missing = await call(base, 'POST', '/account_transfers', { headers: h,
        body: { account_id: 'missing_a', amount: 1, description: 'd', destination_account_id: 'b' } });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.type, 'object_not_found_error');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('column: refusals are evaluated again; closed and missing accounts', async () => {
    const { child, base } = await startBank('column', BANKS.column.args);
    try {
      const h = { ...BANKS.column.auth, 'Content-Type': 'application/json', 'Idempotency-Key': 'retry-me' };
      const body = { amount: 5, currency_code: 'USD', sender_bank_account_id: 'decline_b', receiver_bank_account_id: 'c' };
      assert.equal((await call(base, 'POST', '/transfers/book', { headers: h, body })).status, 400);
      await call(base, 'POST', '/_control/behaviour', { body: { account: 'decline_b', behaviour: 'normal' } });
      assert.equal((await call(base, 'POST', '/transfers/book', { headers: h, body })).status, 200);
      const closed = await call(base, 'POST', '/transfers/book', { headers: { ...h, 'Idempotency-Key': 'c1' },
        body: { ...body, sender_bank_account_id: 'closed_b' } });
      assert.equal(closed.status, 400);
      assert.equal(closed.json.code, 'bank_account_closed');
      const missing = await call(base, 'POST', '/transfers/ach', { headers: { ...h, 'Idempotency-Key': 'm1' },
        body: { amount: 5, currency_code: 'USD', type: 'CREDIT', entry_class_code: 'PPD', bank_account_id: 'missing_b', counterparty_id: 'cp' } });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.code, 'bank_account_not_found');
      const both = await call(base, 'POST', '/transfers/book', { headers: { ...h, 'Idempotency-Key': 'b1' },
        body: { ...body, sender_bank_account_id: 'x', sender_account_number_id: 'y' } });
      assert.equal(both.status, 400);
      assert.equal(both.json.type, 'invalid_request_error');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('unit: media type, description limit, frozen, lookup by tags', async () => {
    const { child, base } = await startBank('unit', BANKS.unit.args);
    try {
      const req = BANKS.unit.request('ach', 'frozen_acc', 'tag-key-1');
      const wrongType = await call(base, 'POST', '/payments', { headers: { ...BANKS.unit.auth, 'Content-Type': 'application/json' }, body: req.body });
      assert.equal(wrongType.status, 415);
      assert.equal(wrongType.json.errors[0].status, '415');
      const h = { ...BANKS.unit.auth, 'Content-Type': 'application/vnd.api+json' };
      const frozen = await call(base, 'POST', '/payments', { headers: h, body: req.body });
      assert.equal(frozen.json.data.attributes.status, 'Rejected');
      assert.equal(frozen.json.data.attributes.reason, 'AccountFrozen');
      const tags = encodeURIComponent(JSON.stringify({ rtjobs_key: 'tag-key-1' }));
      const found = await call(base, 'GET', `/payments?filter[tags]=${tags}`, { headers: BANKS.unit.auth });
      assert.deepEqual(found.json.data, [frozen.json.data]);
      const byId = await call(base, 'GET', `/payments/${frozen.json.data.id}`, { headers: BANKS.unit.auth });
      assert.deepEqual(byId.json.data, frozen.json.data);
      const long = BANKS.unit.request('ach', 'acc', 'k2');
      long.body.data.attributes.description = 'ELEVEN CHRS';
      const r = await call(base, 'POST', '/payments', { headers: h, body: long.body });
      assert.equal(r.status, 400);
      assert.equal(r.json.errors[0].code, 'invalid_value');
      const extra = BANKS.unit.request('book', 'acc', 'k3');
      extra.body.data.attributes.memo = 'x';
      assert.equal((await call(base, 'POST', '/payments', { headers: h, body: extra.body })).status, 400);
      const missing = await call(base, 'POST', '/payments', { headers: h, body: BANKS.unit.request('book', 'missing_a', 'k4').body });
      assert.equal(missing.status, 404);
      assert.equal(missing.json.errors[0].title, 'Not Found');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('treasury_prime: decimal amounts, core502 executes, closed and missing', async () => {
    const { child, base } = await startBank('treasury_prime', BANKS.treasury_prime.args);
    try {
      const h = { ...BANKS.treasury_prime.auth, 'Content-Type': 'application/json' };
      for (const amount of [50, '50', '50.5', '-1.00', '0.00']) {
        const r = await call(base, 'POST', '/book', { headers: h, body: { amount, from_account_id: 'a', to_account_id: 'b' } });
        assert.equal(r.status, 400, String(amount));
        assert.equal(typeof r.json.error, 'string');
      }
      const k = { ...h, 'X-Idempotency-Key': 'core-offline' };
      const body = { amount: '50.00', from_account_id: 'core502_a', to_account_id: 'b' };
      const first = await call(base, 'POST', '/book', { headers: k, body });
      assert.equal(first.status, 502);
      const t = (await call(base, 'GET', '/_control/transfers')).json.transfers;
      assert.equal(t.length, 1);
      assert.equal(t[0].amount, '50.00');
      const retry = await call(base, 'POST', '/book', { headers: k, body });
      assert.equal(retry.status, 200);
      assert.equal(retry.json.id, t[0].id);
      assert.equal(retry.json.status, 'pending');
      assert.equal((await call(base, 'GET', '/_control/transfers')).json.transfers.length, 1);
      const closed = await call(base, 'POST', '/book', { headers: h, body: { ...body, from_account_id: 'closed_a' } });
      assert.deepEqual([closed.status, closed.json], [400, { error: 'Account closed' }]);
      const missing = await call(base, 'POST', '/ach', { headers: h, body: { account_id: 'missing_a', amount: '1.00',
        counterparty_id: 'cp', direction: 'credit', sec_code: 'ppd' } });
      assert.deepEqual([missing.status, missing.json], [404, { error: 'Not found' }]);
      const down = await call(base, 'POST', '/book', { headers: h, body: { ...body, from_account_id: 'down_a' } });
      assert.equal(down.status, 502);
      assert.equal((await call(base, 'GET', '/_control/transfers')).json.transfers.length, 1);
      const desc = await call(base, 'POST', '/book', { headers: h, body: { ...body, from_account_id: 'a', description: 'eleven chrs' } });
      assert.equal(desc.status, 400);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

// ---- settlement, returns and webhooks (README.md, "Settlement and returns", "Webhooks") ----

// Signatures are checked here with node:crypto directly, not with the fakes' own code.
const sign = (alg, key, text, enc) => crypto.createHmac(alg, key).update(text).digest(enc);

// Per bank: where an ACH transfer is looked up, its state read back generically ("pending",
// "submitted", "settled", "returned:R01", "canceled"), how a webhook delivery is verified (returning
// a key that names the event: its id, or the body where the bank sends no id), how many webhooks a
// creation and a settlement from pending send, and the bank's sandbox simulation calls.
const LIFE = {
  increase: {
    secret: 'increase-shared-secret',
    get: (id) => `/ach_transfers/${id}`,
    state(o) {
      if (o.status === 'returned') return `returned:${o.return.raw_return_reason_code}`;
      if (o.status === 'submitted') return o.settlement ? 'settled' : 'submitted';
      return o.status === 'pending_submission' ? 'pending' : o.status;
    },
    returnedR01(o) {
      assert.equal(o.return.return_reason_code, 'insufficient_fund');
      assert.equal(o.return.transfer_id, o.id);
    },
    verify(d, secret, transferId) {
      const id = d.headers['webhook-id'];
      const ts = d.headers['webhook-timestamp'];
      assert.match(ts, /^\d+$/);
      assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 300);
      assert.equal(d.headers['webhook-signature'], `v1,${sign('sha256', Buffer.from(secret, 'utf8'), `${id}.${ts}.${d.body}`, 'base64')}`);
      assert.equal(d.json.id, id);
      assert.match(id, /^event_/);
      assert.deepEqual(Object.keys(d.json), ['id', 'created_at', 'category', 'associated_object_type', 'associated_object_id', 'type']);
      assert.equal(d.json.associated_object_id, transferId);
      assert.equal(d.json.associated_object_type, 'ach_transfer');
      assert.match(d.json.category, /^ach_transfer\.(created|updated)$/);
      return id;
    },
    createdEvents: 1,
    settleEvents: 2, // submitted, then settled: two ach_transfer.updated
    cancelEvents: 1,
    simSettle: (id) => ({ path: `/simulations/ach_transfers/${id}/settle` }),
    simReturn: (id) => ({ path: `/simulations/ach_transfers/${id}/return`, body: { reason: 'insufficient_fund' } }),
  },
  column: {
    secret: 'column-endpoint-secret',
    get: (id) => `/transfers/ach/${id}`,
    state(o) {
      if (o.status === 'RETURNED') return `returned:${o.return_details[0].return_code}`;
      return { INITIATED: 'pending', SUBMITTED: 'submitted', SETTLED: 'settled', CANCELED: 'canceled' }[o.status];
    },
    returnedR01(o) {
      assert.ok(o.returned_at);
      assert.equal(o.return_details[0].description, 'Insufficient Funds');
    },
    verify(d, secret, transferId) {
      assert.equal(d.headers['column-signature'], sign('sha256', secret, d.body, 'hex'));
      assert.match(d.headers['webhook-endpoint-id'], /^wend_/);
      assert.match(d.json.id, /^evnt_/);
      assert.match(d.json.type, /^ach\.outgoing_transfer\.(submitted|settled|returned|canceled)$/);
      assert.equal(d.json.data.id, transferId);
      assert.equal(d.json.type.split('.')[2], LIFE.column.state(d.json.data).split(':')[0]);
      return d.json.id;
    },
    createdEvents: 0,
    settleEvents: 2,
    cancelEvents: 1,
    simSettle: (id) => ({ path: '/simulate/transfers/ach/settle', body: { ach_transfer_id: id } }),
    simReturn: null, // only through a RETURN_* counterparty (bank-specific test)
  },
  unit: {
    secret: 'UNITWEBHOOKTOKEN====',
    get: (id) => `/payments/${id}`,
    state(o) {
      const a = o.data.attributes;
      if (a.status === 'Returned') return `returned:${{ InsufficientFunds: 'R01', AccountClosed: 'R02' }[a.reason]}`;
      return { Pending: 'pending', Clearing: 'submitted', Sent: 'settled', Canceled: 'canceled' }[a.status];
    },
    returnedR01(o) {
      assert.equal(o.data.attributes.reason, 'InsufficientFunds');
    },
    verify(d, secret, transferId) {
      assert.equal(d.headers['x-unit-signature'], sign('sha1', secret, d.body, 'base64'));
      assert.equal(d.json.data.length, 1);
      const e = d.json.data[0];
      assert.match(e.id, /^\d+$/);
      assert.match(e.type, /^payment\.(created|clearing|sent|returned)$/);
      assert.ok(e.attributes.createdAt);
      assert.deepEqual(e.relationships.payment.data, { id: transferId, type: 'achPayment' });
      return e.id;
    },
    createdEvents: 1,
    settleEvents: 1, // a credit: Pending -> Sent
    cancelEvents: 0, // no payment.canceled event is documented
    simSettle: (id) => ({ path: '/sandbox/ach/transmit', body: { data: { type: 'transmitAchPayment',
      relationships: { payment: { data: { type: 'achPayment', id } } } } } }),
    simReturn: (id) => ({ path: '/sandbox/ach/return', body: { data: { type: 'returnAchPayment',
      relationships: { payment: { data: { type: 'achPayment', id } } } } } }),
  },
  treasury_prime: {
    secret: 'hook_user:hook_password',
    get: (id) => `/ach/${id}`,
    state(o) {
      if (o.status === 'returned') return `returned:${o.error}`;
      return { pending: 'pending', processing: 'submitted', sent: 'settled', canceled: 'canceled' }[o.status];
    },
    returnedR01(o) {
      assert.equal(o.error, 'R01');
    },
    verify(d, secret, transferId) {
      assert.equal(d.headers.authorization, `Basic ${Buffer.from(secret).toString('base64')}`);
      assert.deepEqual(Object.keys(d.json), ['event', 'op', 'id', 'url']);
      assert.equal(d.json.event, 'ach.update');
      assert.equal(d.json.op, 'update');
      assert.equal(d.json.id, transferId);
      assert.ok(d.json.url.endsWith(`/ach/${transferId}`));
      return null; // Treasury Prime's events carry no id (and one transfer's events are alike)
    },
    createdEvents: 0,
    settleEvents: 2, // processing, then sent
    cancelEvents: 1,
    simSettle: (id) => ({ path: '/simulation', body: { type: 'ach.processing_sent', simulation: { ach_id: id } } }),
    simReturn: (id) => ({ path: '/simulation', body: { type: 'ach.processing_returned', simulation: { ach_id: id } } }),
  },
};

// The Standard Webhooks and Unit test vectors (BANKS.md part 2, [SW2] and [UA10]).
describe('webhook signature schemes', () => {
  it('signs the Standard Webhooks example exactly', () => {
    const h = standardHeaders(standardKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'), 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330, '{"test": 2432232314}');
    assert.equal(h['webhook-signature'], 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });
  it('signs the Unit example exactly', () => {
    const body = '{"data":[{"id":"46306092","type":"application.approved","attributes":{"createdAt":"2025-08-05T06:48:38.957Z","tags":{"key":"another-tag","test":"webhook-tag","number":"111"}},"relationships":{"application":{"data":{"id":"3895367","type":"individualApplication"}},"customer":{"data":{"id":"3310133","type":"individualCustomer"}}}}]}';
    assert.equal(hmac('sha1', 'OB2HL5E3B4HJ7IVXRNL4YQKYIQIVJK36ZZLPZEFWZVSDSC7LLFJQ====', body, 'base64'),
      'UUNz8ch1Ovjg+ijXUEwlAlWEktU=');
  });
});

for (const [name, cfg] of Object.entries(BANKS)) {
  const life = LIFE[name];
  describe(`${name}: settlement, returns and webhooks`, () => {
    let bank;
    let hooks;
    let n = 0;
    const control = (p, body) => call(bank.base, body === undefined ? 'GET' : 'POST', `/_control/${p}`, { body });
    const bankCall = (p, body, auth = cfg.auth) => call(bank.base, 'POST', p,
      { headers: { ...auth, 'Content-Type': cfg.json }, body });
    const state = async (id) => life.state((await call(bank.base, 'GET', life.get(id), { headers: cfg.auth })).json);
    // Creates an ACH credit (Treasury Prime's with userdata.manual, so its simulations apply).
    const createAch = async (source = 'acc_src', counterparty = null) => {
      const req = cfg.request('ach', source, `life-${name}-${++n}`);
      if (name === 'treasury_prime') req.body.userdata = { manual: true };
      if (counterparty) req.body.counterparty_id = counterparty;
      const r = await call(bank.base, 'POST', req.path, { headers: { ...cfg.auth, 'Content-Type': cfg.json, ...req.headers },
        body: req.body });
      return cfg.success(r, 'ach');
    };
    // Waits for `count` deliveries in all and verifies each; returns their event keys.
    const delivered = async (count, transferIds) => {
      const list = await hooks.count(count);
      return list.map((d) => life.verify(d, life.secret, transferIds[d.json.data?.[0]?.relationships?.payment?.data?.id ??
        d.json.associated_object_id ?? d.json.data?.id ?? d.json.id] || transferIds.only));
    };

    before(async () => {
      hooks = await startReceiver();
      bank = await startBank(name, [...cfg.args, '--webhook-url', hooks.url, '--webhook-secret', life.secret]);
    });
    after(async () => {
      bank.stop();
      await hooks.close();
    });
    beforeEach(async () => {
      await control('reset', {});
      hooks.reset();
    });

    it('settles, then returns after settlement, through the control API', async () => {
      const id = await createAch();
      assert.equal(await state(id), 'pending');
      const settled = await control('settle', { id });
      assert.equal(settled.status, 200);
      assert.equal(life.state(settled.json), 'settled');
      assert.equal(await state(id), 'settled');
      const keys = await delivered(life.createdEvents + life.settleEvents, { only: id });
      if (keys[0] !== null) assert.equal(new Set(keys).size, keys.length, 'a fresh event for every change');
      const returned = await control('return', { id, code: 'R01' });
      assert.equal(returned.status, 200);
      const got = (await call(bank.base, 'GET', life.get(id), { headers: cfg.auth })).json;
      assert.equal(life.state(got), 'returned:R01');
      life.returnedR01(got);
      await delivered(life.createdEvents + life.settleEvents + 1, { only: id });
      for (const [p, body] of [['settle', { id }], ['return', { id, code: 'R02' }], ['cancel', { id }]]) {
        const r = await control(p, body);
        assert.equal(r.status, 409, p);
        assert.equal(r.json.error.code, 'invalid_state');
      }
      assert.equal((await control('settle', { id: 'nope' })).status, 404);
      assert.equal((await control('return', { id, code: 'X1' })).status, 400);
      const stats = (await control('stats')).json;
      assert.equal(stats.webhooks_sent, life.createdEvents + life.settleEvents + 1);
      assert.equal(stats.webhooks_failed, 0);
    });

    it('returns before settlement and cancels only while pending', async () => {
      const a = await createAch();
      assert.equal((await control('return', { id: a, code: 'R02' })).status, 200);
      assert.equal(await state(a), 'returned:R02');
      const b = await createAch();
      assert.equal((await control('cancel', { id: b })).status, 200);
      assert.equal(await state(b), 'canceled');
      assert.equal((await control('settle', { id: b })).status, 409);
      const c = await createAch();
      assert.equal((await control('settle', { id: c })).status, 200);
      assert.equal((await control('cancel', { id: c })).status, 409);
      // The book rail is final at once: nothing to follow.
      const book = cfg.success(await call(bank.base, 'POST', cfg.request('book', 'acc_src', null).path,
        { headers: { ...cfg.auth, 'Content-Type': cfg.json }, body: cfg.request('book', 'acc_src', null).body }), 'book');
      assert.equal((await control('settle', { id: book })).status, 404);
    });

    it('moves on through the bank\'s own sandbox simulation', async () => {
      const id = await createAch();
      const settle = life.simSettle(id);
      cfg.unauthorized(await bankCall(settle.path, settle.body, {}));
      assert.equal((await bankCall(settle.path, settle.body)).status, 200);
      assert.equal(await state(id), 'settled');
      assert.equal((await bankCall(life.simSettle(id).path, life.simSettle(id).body)).status >= 400, true);
      if (life.simReturn) {
        const ret = life.simReturn(id);
        assert.equal((await bankCall(ret.path, ret.body)).status, 200);
        assert.equal(await state(id), 'returned:R01');
      }
      await delivered(life.createdEvents + life.settleEvents + (life.simReturn ? 1 : 0), { only: id });
      const missing = life.simSettle('nope');
      assert.equal((await bankCall(missing.path, missing.body)).status, 404);
    });

    it('retries a refused delivery with the same event, and counts it', async () => {
      await control('webhook', { url: hooks.url, secret: life.secret, retry_base_ms: 20 });
      hooks.answer = (d, i) => (i === 0 ? 500 : 200);
      const id = await createAch();
      await control('settle', { id });
      const events = life.createdEvents + life.settleEvents;
      const list = await hooks.until((l) => l.filter((d) => d.status === 200).length >= events);
      const keys = list.map((d) => life.verify(d, life.secret, id));
      assert.equal(list[0].status, 500);
      if (keys[0] !== null) assert.equal(keys.filter((k) => k === keys[0]).length, 2, 'the retry carries the same event');
      assert.equal(list.filter((d) => d.body === list[0].body).length >= 2, true);
      const view = (await control('webhooks')).json;
      const first = view.events.find((e) => e.attempts.some((a) => a.status === 500));
      assert.deepEqual(first.attempts.map((a) => a.status), [500, 200]);
      assert.equal(first.transfer_id, id);
      assert.equal(first.delivered, true);
      const stats = (await control('stats')).json;
      assert.equal(stats.webhooks_failed, 1);
      assert.equal(stats.webhooks_sent, events);
    });

    it('holds events and releases them in reverse order; replays one with its id', async () => {
      assert.equal((await control('webhooks/hold', {})).status, 200);
      const a = await createAch();
      const b = await createAch();
      await control('settle', { id: a });
      await control('settle', { id: b });
      const view = (await control('webhooks')).json;
      const total = 2 * (life.createdEvents + life.settleEvents);
      assert.equal(view.events.length, total);
      assert.ok(view.events.every((e) => e.held && e.attempts.length === 0));
      assert.equal(hooks.deliveries.length, 0);
      const released = await control('webhooks/release', { order: 'reverse' });
      assert.deepEqual(released.json.released, view.events.map((e) => e.event_id).reverse());
      const list = await hooks.count(total);
      assert.deepEqual(list.map((d) => d.body), view.events.map((e) => e.body).reverse());
      for (const d of list) life.verify(d, life.secret, d.body.includes(a) ? a : b);
      // Replay: the same event (id and body), signed afresh.
      const last = view.events[view.events.length - 1];
      assert.equal((await control('webhooks/replay', { event_id: last.event_id })).status, 200);
      const again = (await hooks.count(total + 1))[total];
      assert.equal(again.body, last.body);
      assert.equal(life.verify(again, life.secret, last.transfer_id), life.verify(list[0], life.secret, last.transfer_id));
      assert.equal((await control('webhooks/replay', { event_id: 'nope' })).status, 404);
      assert.equal((await control('webhooks/release', { order: 'sideways' })).status, 400);
    });

    it('settles or returns every new ACH transfer after settle_after_ms', async () => {
      assert.deepEqual((await control('settlement', { settle_after_ms: 20 })).json,
        { settle_after_ms: 20, return_code: null });
      const a = await createAch();
      await hooks.count(life.createdEvents + life.settleEvents);
      assert.equal(await state(a), 'settled');
      await control('settlement', { settle_after_ms: 0, return_code: 'R02' });
      const b = await createAch();
      await hooks.count(2 * (life.createdEvents + life.settleEvents));
      assert.equal(await state(b), 'returned:R02');
      assert.equal((await control('settlement', { settle_after_ms: -1 })).status, 400);
      await control('reset', {});
      assert.deepEqual((await control('settlement', {})).json, { settle_after_ms: null, return_code: null });
    });
  });
}

describe('settlement: bank-specific', () => {
  it('column: a RETURN_NSF counterparty is returned by the settle simulation; --settle-after-ms', async () => {
    const hooks = await startReceiver();
    const bank = await startBank('column', [...BANKS.column.args, '--settle-after-ms', '10',
      '--webhook-url', hooks.url, '--webhook-secret', 's3']);
    try {
      const h = { ...BANKS.column.auth, 'Content-Type': 'application/json' };
      const body = { amount: 5, currency_code: 'USD', type: 'DEBIT', entry_class_code: 'PPD', bank_account_id: 'a',
        counterparty_id: 'RETURN_NSF' };
      const made = await call(bank.base, 'POST', '/transfers/ach', { headers: h, body });
      const id = made.json.id;
      const list = await hooks.count(2); // settled on its own after 10 ms: submitted, settled
      assert.deepEqual(list.map((d) => d.json.type), ['ach.outgoing_transfer.submitted', 'ach.outgoing_transfer.settled']);
      assert.equal(list[1].json.data.status, 'SETTLED');
      await call(bank.base, 'POST', '/_control/settlement', { body: { settle_after_ms: null } });
      const second = await call(bank.base, 'POST', '/transfers/ach', { headers: h, body });
      const r = await call(bank.base, 'POST', '/simulate/transfers/ach/settle', { headers: h,
        body: { ach_transfer_id: second.json.id } });
      assert.deepEqual([r.status, r.json], [200, {}]);
      const got = await call(bank.base, 'GET', `/transfers/ach/${second.json.id}`, { headers: BANKS.column.auth });
      assert.equal(got.json.status, 'RETURNED');
      assert.equal(got.json.return_details[0].return_code, 'R01');
      assert.notEqual(id, second.json.id);
    } finally {
      bank.stop();
      await hooks.close();
    }
  });

  it('treasury_prime: simulations need userdata.manual; unit: debits clear', async () => {
    const tp = await startBank('treasury_prime', BANKS.treasury_prime.args);
    const unit = await startBank('unit', BANKS.unit.args);
    try {
      const req = BANKS.treasury_prime.request('ach', 'acc', null);
      const h = { ...BANKS.treasury_prime.auth, 'Content-Type': 'application/json' };
      const made = await call(tp.base, 'POST', req.path, { headers: h, body: req.body });
      const sim = await call(tp.base, 'POST', '/simulation', { headers: h,
        body: { type: 'ach.processing_sent', simulation: { ach_id: made.json.id } } });
      assert.equal(sim.status, 400);
      assert.equal((await call(tp.base, 'GET', `/ach/${made.json.id}`, { headers: BANKS.treasury_prime.auth })).json.status, 'pending');

      const uh = { ...BANKS.unit.auth, 'Content-Type': 'application/vnd.api+json' };
      const debit = BANKS.unit.request('ach', 'acc', null);
      debit.body.data.attributes.direction = 'Debit';
      const payment = (await call(unit.base, 'POST', '/payments', { headers: uh, body: debit.body })).json.data;
      const rel = { relationships: { payment: { data: { type: 'achPayment', id: payment.id } } } };
      const status = async () => (await call(unit.base, 'GET', `/payments/${payment.id}`, { headers: BANKS.unit.auth })).json.data.attributes.status;
      assert.equal((await call(unit.base, 'POST', '/sandbox/ach/clear', { headers: uh, body: { data: { type: 'clearAchPayment', ...rel } } })).status, 400);
      assert.equal((await call(unit.base, 'POST', '/sandbox/ach/transmit', { headers: uh, body: { data: { type: 'transmitAchPayment', ...rel } } })).status, 200);
      assert.equal(await status(), 'Clearing');
      assert.equal((await call(unit.base, 'POST', '/_control/cancel', { body: { id: payment.id } })).status, 409);
      assert.equal((await call(unit.base, 'POST', '/sandbox/ach/clear', { headers: uh, body: { data: { type: 'clearAchPayment', ...rel } } })).status, 200);
      assert.equal(await status(), 'Sent');
      // A debit's money arrives at settlement.
      assert.equal((await call(unit.base, 'GET', '/_control/balances')).json.acc, String(10n ** 15n + 250n));
    } finally {
      tp.stop();
      unit.stop();
    }
  });
});
