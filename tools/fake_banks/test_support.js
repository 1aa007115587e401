'use strict';
// What the fakes' self-tests share (tools/fake_banks/selftest.js, tools/fake_baas/selftest.js):
// starting a fake as a child process, calling it over HTTP, and one suite of flow-control checks
// (--max-rps, POST /_control/rate-limit, POST /_control/outage, the counters) run against every
// fake with that fake's own answer shapes.

const { it } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const http = require('node:http');

// Starts `node <script> --port 0 --host 127.0.0.1 <args>` and resolves with {child, base, stop}
// once it printed its port.
function startServer(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, '--port', '0', '--host', '127.0.0.1', ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        const { listening } = JSON.parse(out.slice(0, nl));
        const stop = () => {
          child.removeAllListeners('exit');
          child.kill('SIGTERM');
        };
        resolve({ child, base: `http://127.0.0.1:${listening}`, stop });
      }
    });
    child.on('exit', (code) => reject(new Error(`${script} ${args.join(' ')} exited with ${code}`)));
  });
}

// The exit status of a fake started with `args` that is expected to refuse them.
function exitStatus(script, args) {
  return spawnSync(process.execPath, [script, '--port', '0', ...args], { timeout: 5000 }).status;
}

async function call(base, method, p, { headers = {}, body } = {}) {
  const init = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await fetch(base + p, init);
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (e) { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

function controlOf(base) {
  return (p, body) => call(base, body === undefined ? 'GET' : 'POST', `/_control/${p}`, { body });
}

// The flow-control checks, as `it`s for the caller's describe. `fake`:
//   base()            the running fake's base URL
//   transfer(key)     {path, headers, body}: a valid transfer-creating POST, credentials included
//   lookup            {path, headers}: an API GET (it counts like any API request)
//   success(r)        asserts an executed transfer's answer
//   rateLimited(r, s) asserts the fake's 429 shape; s is the Retry-After header's value
//   outage(r)         asserts the fake's 503 shape
function flowControlSuite(fake) {
  let n = 0;
  const key = () => `flow-${process.pid}-${++n}`;
  const post = (k) => {
    const r = fake.transfer(k);
    return call(fake.base(), 'POST', r.path, { headers: r.headers, body: r.body });
  };
  const lookup = () => call(fake.base(), 'GET', fake.lookup.path, { headers: fake.lookup.headers });
  const control = (p, body) => controlOf(fake.base())(p, body);
  const transfers = async () => (await control('transfers')).json.transfers;
  const stats = async () => (await control('stats')).json;

  it('holds a burst over max_rps back with 429 and Retry-After, executing nothing', async () => {
    await control('reset', {});
    assert.deepEqual((await control('rate-limit', { max_rps: 4 })).json, { max_rps: 4 });
    const keys = Array.from({ length: 6 }, key);
    const started = Date.now();
    const answers = await Promise.all(keys.map(post));
    const elapsed = Date.now() - started;
    const limited = keys.filter((k, i) => answers[i].status === 429);
    assert.equal(limited.length, 2, `6 requests in ${elapsed} ms at max_rps 4`);
    for (const r of answers.filter((x) => x.status === 429)) {
      const retryAfter = Number(r.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${r.headers.get('retry-after')}`);
      fake.rateLimited(r, retryAfter);
    }
    for (const r of answers.filter((x) => x.status !== 429)) fake.success(r);
    assert.equal((await transfers()).length, 4);
    const s = await stats();
    assert.equal(s.rate_limited, 2);
    assert.equal(s.accepted_max_per_second, 4);
    // A look-up counts too.
    assert.equal((await lookup()).status, 429);
    // Lifted at run time: the refused keys were never remembered, so they execute now.
    assert.deepEqual((await control('rate-limit', { max_rps: null })).json, { max_rps: null });
    for (const k of limited) fake.success(await post(k));
    assert.equal((await transfers()).length, 6);
    assert.equal((await stats()).rate_limited, 3);
  });

  it('changes the limit at run time and refuses a bad one', async () => {
    await control('reset', {});
    await control('rate-limit', { max_rps: 1 });
    fake.success(await post(key()));
    assert.equal((await post(key())).status, 429);
    await control('rate-limit', { max_rps: 3 });
    fake.success(await post(key()));
    fake.success(await post(key()));
    assert.equal((await post(key())).status, 429);
    for (const bad of [0, -1, 2.5, '3', true]) {
      const r = await control('rate-limit', { max_rps: bad });
      assert.equal(r.status, 400, String(bad));
      assert.equal(r.json.error.code, 'invalid_request');
    }
    assert.equal((await control('rate-limit', {})).status, 400);
    assert.equal((await post(key())).status, 429); // still 3
  });

  it('answers 503 during an outage, executes nothing and remembers nothing', async () => {
    await control('reset', {});
    assert.deepEqual((await control('outage', { down: true })).json, { down: true, mode: '503' });
    const k = key();
    const r = await post(k);
    fake.outage(r);
    assert.equal(r.headers.get('retry-after'), null);
    fake.outage(await lookup());
    assert.deepEqual(await transfers(), []);
    assert.equal((await stats()).outage_rejected, 2);
    assert.deepEqual((await control('outage', { down: false })).json, { down: false });
    fake.success(await post(k));
    assert.equal((await transfers()).length, 1);
    for (const bad of [{}, { down: 'yes' }, { down: true, mode: 'slow' }]) {
      assert.equal((await control('outage', bad)).status, 400, JSON.stringify(bad));
    }
  });

  it('drops the connection unanswered during an outage of mode refuse', async () => {
    await control('reset', {});
    assert.deepEqual((await control('outage', { down: true, mode: 'refuse' })).json, { down: true, mode: 'refuse' });
    const k = key();
    await assert.rejects(post(k), (e) => e.cause && ['ECONNRESET', 'UND_ERR_SOCKET'].includes(e.cause.code));
    await assert.rejects(lookup(), (e) => e.cause && ['ECONNRESET', 'UND_ERR_SOCKET'].includes(e.cause.code));
    assert.deepEqual(await transfers(), []);
    assert.equal((await stats()).outage_rejected, 2);
    await control('outage', { down: false });
    fake.success(await post(k));
  });

  it('resets the counters, the outage and the run-time limit', async () => {
    await control('reset', {});
    await control('rate-limit', { max_rps: 1 });
    fake.success(await post(key()));
    assert.equal((await post(key())).status, 429);
    await control('outage', { down: true });
    fake.outage(await post(key()));
    let s = await stats();
    assert.deepEqual([s.rate_limited, s.outage_rejected, s.accepted_max_per_second], [1, 1, 1]);
    await control('reset', {});
    s = await stats();
    assert.deepEqual([s.rate_limited, s.outage_rejected, s.accepted_max_per_second], [0, 0, 0]);
    // Started without --max-rps: no limit after the reset, and no outage.
    for (let i = 0; i < 3; i++) fake.success(await post(key()));
    assert.equal((await stats()).accepted_max_per_second, 3);
  });
}

// The --max-rps flag: `start(args)` starts the fake with extra arguments; `script` and `args` say
// how to start it for the exit-status check.
function maxRpsFlagSuite({ start, script, args, transfer, success, rateLimited }) {
  it('takes --max-rps from the command line, and a reset restores it', async () => {
    const fake = await start(['--max-rps', '2']);
    try {
      let n = 0;
      const post = () => {
        const r = transfer(`flag-${++n}`);
        return call(fake.base, 'POST', r.path, { headers: r.headers, body: r.body });
      };
      const control = controlOf(fake.base);
      const burst = async () => (await Promise.all([post(), post(), post()])).map((r) => r.status).sort();
      const statuses = await burst();
      assert.equal(statuses.filter((s) => s === 429).length, 1, statuses.join());
      await control('rate-limit', { max_rps: null });
      success(await post());
      await control('reset', {});
      assert.equal((await burst()).filter((s) => s === 429).length, 1);
      // The one wait on the real clock: after Retry-After seconds the window has room again.
      const held = await post();
      const retryAfter = Number(held.headers.get('retry-after'));
      rateLimited(held, retryAfter);
      // (50 ms more: a timer may fire a millisecond early against the server's clock.)
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 50));
      success(await post());
      assert.equal((await control('stats')).json.accepted_max_per_second, 2);
    } finally {
      fake.stop();
    }
    for (const bad of ['0', '-1', '2.5', 'x']) assert.equal(exitStatus(script, [...args, '--max-rps', bad]), 2, bad);
  });
}

// A local webhook receiver. Every delivery is kept as {headers (lower-case names), body (raw
// string), json, status (what it was answered)}; `answer(delivery, index)` picks the status (200
// by default). `until(pred, ms)` resolves with the list once pred(list) holds: the tests wait on
// deliveries, never on the clock.
async function startReceiver() {
  const deliveries = [];
  const waiters = [];
  const r = {
    deliveries,
    answer: () => 200,
    url: null,
    until(pred, ms = 15000) {
      if (pred(deliveries)) return Promise.resolve(deliveries);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`webhook receiver: condition not met in ${ms} ms; got ${deliveries.length}: ` +
            deliveries.map((d) => d.body).join('\n')));
        }, ms);
        waiters.push(w);
      });
    },
    count: (n, ms) => r.until((list) => list.length >= n, ms),
    reset() {
      deliveries.length = 0;
      r.answer = () => 200;
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(body);
      } catch (e) { /* kept raw */ }
      const d = { method: req.method, headers: req.headers, body, json, status: null };
      d.status = r.answer(d, deliveries.length);
      deliveries.push(d);
      res.writeHead(d.status, { 'Content-Type': 'text/plain' });
      res.end('ok');
      for (const w of waiters.slice()) {
        if (w.pred(deliveries)) {
          clearTimeout(w.timer);
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(deliveries);
        }
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${server.address().port}/hook`;
  return r;
}

module.exports = { startServer, exitStatus, call, flowControlSuite, maxRpsFlagSuite, startReceiver };
