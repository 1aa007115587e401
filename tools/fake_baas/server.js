#!/usr/bin/env node
// Fake BaaS speaking the rtjobs BaaS protocol (SPEC section 5), for tests, demos and benchmarks.
// Node 20, built-in modules only. See README.md for the behaviours and the control API.
//
//   node tools/fake_baas/server.js --port 0 --host 127.0.0.1 [--token T] [--latency-ms N] [--max-rps N]
//        [--settle] [--settle-after-ms N [--return-code Rnn]] [--webhook-url URL --webhook-secret S]
//
// On start it prints one line to stdout: {"listening": PORT}.
'use strict';

const http = require('http');
const crypto = require('crypto');
// Flow control (--max-rps, the outage switch) is the fake banks' own, so both fakes count alike.
const { FlowControl, dropConnection, parseMaxRps } = require('../fake_banks/lib/flow_control');
// So are the life of a transfer after the call and the webhooks out (README.md, "Settlement").
const { Settlement, NACHA, parseSettleAfterMs, describeReturn } = require('../fake_banks/lib/settlement');
const { Webhooks, standardHeaders, standardKey } = require('../fake_banks/lib/webhooks');

const MAX_BODY = 1024 * 1024;
const START_BALANCE = 10n ** 15n; // unknown accounts start rich (minor units)
const USAGE = 'usage: server.js --port N --host H [--token T] [--latency-ms N] [--max-rps N] [--settle] ' +
  '[--settle-after-ms N [--return-code Rnn]] [--webhook-url URL --webhook-secret S]\n';
const INVALID_JSON = Symbol('invalid JSON');
const TOO_BIG = Symbol('body over 1 MiB');

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', token: '', latencyMs: 0, maxRps: null, pending: false,
    settleAfterMs: null, returnCode: null, webhookUrl: null, webhookSecret: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fatal(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = intArg(a, next());
    else if (a === '--host') opts.host = next();
    else if (a === '--token') opts.token = next();
    else if (a === '--latency-ms') opts.latencyMs = intArg(a, next());
    else if (a === '--max-rps') {
      opts.maxRps = parseMaxRps(next());
      if (opts.maxRps === null) fatal('--max-rps must be a positive integer');
    } else if (a === '--settle') opts.pending = true;
    else if (a === '--settle-after-ms') {
      opts.settleAfterMs = parseSettleAfterMs(next());
      if (opts.settleAfterMs === null) fatal('--settle-after-ms must be a non-negative integer');
      opts.pending = true;
    } else if (a === '--return-code') {
      opts.returnCode = next();
      if (!NACHA.test(opts.returnCode)) fatal('--return-code must look like R01');
    } else if (a === '--webhook-url') {
      opts.webhookUrl = next();
      if (!/^https?:\/\//.test(opts.webhookUrl)) fatal('--webhook-url must be an http(s) URL');
    } else if (a === '--webhook-secret') opts.webhookSecret = next();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else fatal(`unknown argument ${a}`);
  }
  return opts;
}

function intArg(name, v) {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) fatal(`${name} must be a non-negative integer`);
  return n;
}

function fatal(msg) {
  process.stderr.write(`fake_baas: ${msg}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

// ---- the transfer after the call: pending -> settled | returned | canceled ----
// The object GET /transfers/{id} answers, and every webhook carries in `data`.
function transferView(rec) {
  const o = { id: rec.id, status: rec.state };
  if (rec.settledAt) o.settled_at = rec.settledAt;
  if (rec.returnCode) {
    o.return_code = rec.returnCode;
    o.reason = describeReturn(rec.returnCode);
  }
  return o;
}

const lifecycle = {
  hasSubmitted: () => false,
  apply(rec, s, info) {
    if (s === 'settled') rec.settledAt = info.now;
    if (s === 'returned') rec.returnCode = info.code;
  },
  // Standard Webhooks: a fresh msg_ id per event, body {type, timestamp, data}.
  event(rec, s, info) {
    const id = `msg_${crypto.randomBytes(12).toString('hex')}`;
    return { id, type: 'transfer.updated', transfer_id: rec.id,
      body: JSON.stringify({ type: 'transfer.updated', timestamp: info.now, data: transferView(rec) }) };
  },
  view: transferView,
  sign: (e, secret, ts) => (secret === null ? { 'webhook-id': e.event_id, 'webhook-timestamp': String(ts) }
    : standardHeaders(standardKey(secret), e.event_id, ts, e.body)),
};

// ---- state (reset by POST /_control/reset) ----
let state;
function reset() {
  if (state) {
    state.webhooks.close();
    state.settlement.close();
  }
  const webhooks = new Webhooks({ sign: lifecycle.sign, url: opts.webhookUrl, secret: opts.webhookSecret });
  state = {
    pending: opts.pending, // --settle: transfers are answered pending and settle later
    webhooks,
    // A return or a cancel moves the money back from the destination to the source.
    settlement: new Settlement({ adapter: lifecycle, webhooks, settleAfterMs: opts.settleAfterMs,
      returnCode: opts.returnCode, money: (rec, delta) => {
        state.balances.set(rec.source, balance(rec.source) + delta);
        state.balances.set(rec.destination, balance(rec.destination) - delta);
      } }),
    latencyMs: opts.latencyMs,
    flow: new FlowControl(opts.maxRps), // --max-rps and the outage switch, with their counters
    behaviours: new Map(), // account -> behaviour string
    balances: new Map(), // account -> BigInt
    results: new Map(), // idempotency key -> {fingerprint, status, body}: final answers only
    flakyCounts: new Map(), // idempotency key -> attempts answered 503 so far
    transfers: [],
    attempts: [],
    nextId: 1,
    stats: { executed: 0, requests: 0, in_flight: 0, peak_in_flight: 0, connections: 0 },
    sockets: new WeakSet(), // connections that carried POST /transfers since the reset
  };
}
reset();

// ---- behaviours ----
// Spelled like the account prefixes without the trailing underscore: "decline", "closed",
// "down", "ratelimit", "timeout408", "flaky<N>", "slow<MS>", "bigerror", "noid"; "normal"
// clears.
const BEHAVIOUR = /^(normal|decline|closed|down|ratelimit|timeout408|bigerror|noid|flaky\d+|slow\d+)$/;
const PREFIX = /^(decline|closed|down|ratelimit|timeout408|bigerror|noid|flaky\d+|slow\d+)_/;

function behaviourOf(account) {
  const explicit = state.behaviours.get(account);
  if (explicit !== undefined) return explicit;
  const m = PREFIX.exec(account);
  return m ? m[1] : 'normal';
}

function errorBody(code, message) {
  return { error: { code, message } };
}

// The answer to a request flow control held back (see ../fake_banks/lib/flow_control.js).
function heldAnswer(held) {
  if (held.outage) return { status: 503, body: errorBody('service_unavailable', 'the bank is in an outage') };
  return { status: 429, body: errorBody('rate_limited', 'too many requests'),
    headers: { 'Retry-After': String(held.retryAfter) } };
}

function balance(account) {
  let b = state.balances.get(account);
  if (b === undefined) {
    b = START_BALANCE;
    state.balances.set(account, b);
  }
  return b;
}

// Decides the answer to a validated transfer request: {status, body, final, delayMs}.
// Runs synchronously, so the idempotency check and the execution are atomic.
function decide(req, key) {
  const fingerprint = JSON.stringify([req.amount, req.currency, req.source_account,
    req.destination_account, req.description, req.reference]);
  const stored = state.results.get(key);
  if (stored) {
    if (stored.fingerprint !== fingerprint) {
      return { status: 422, body: errorBody('idempotency_key_reused',
        'this Idempotency-Key was used with another request'), delayMs: 0 };
    }
    return { status: stored.status, body: stored.body, raw: stored.raw, delayMs: 0 };
  }
  const behaviour = behaviourOf(req.source_account);
  let delayMs = 0;
  let m;
  if ((m = /^slow(\d+)$/.exec(behaviour))) delayMs = Number(m[1]);
  switch (behaviour) {
    case 'down':
      return { status: 503, body: errorBody('service_unavailable', 'the bank is down'), delayMs };
    case 'ratelimit':
      return { status: 429, body: errorBody('rate_limited', 'too many requests'), delayMs,
        headers: { 'Retry-After': '1' } };
    case 'timeout408':
      return { status: 408, body: errorBody('request_timeout', 'request timed out'), delayMs };
    case 'bigerror':
      return { status: 500, body: { error: { code: 'internal', message: 'x'.repeat(200 * 1024) } },
        delayMs };
  }
  if ((m = /^flaky(\d+)$/.exec(behaviour))) {
    const seen = state.flakyCounts.get(key) || 0;
    if (seen < Number(m[1])) {
      state.flakyCounts.set(key, seen + 1);
      return { status: 503, body: errorBody('service_unavailable',
        `flaky: attempt ${seen + 1} of ${m[1]} fails`), delayMs };
    }
  }
  let result;
  const amount = BigInt(req.amount);
  if (behaviour === 'decline' || balance(req.source_account) < amount) {
    result = { status: 422, body: errorBody('insufficient_funds', 'insufficient funds') };
  } else if (behaviour === 'closed') {
    result = { status: 422, body: errorBody('account_closed', 'the source account is closed') };
  } else {
    const id = `tr_${String(state.nextId++).padStart(8, '0')}${crypto.randomBytes(4).toString('hex')}`;
    const executedAt = new Date().toISOString();
    state.balances.set(req.source_account, balance(req.source_account) - amount);
    state.balances.set(req.destination_account, balance(req.destination_account) + amount);
    const transfer = { id, idempotency_key: key, amount: req.amount, currency: req.currency,
      source: req.source_account, destination: req.destination_account,
      reference: req.reference ?? null, executed_at: executedAt };
    state.transfers.push(transfer);
    state.stats.executed++;
    // Followed from here: pending until settled (with --settle), else settled at once.
    state.settlement.track({ id, direction: 'credit', source: req.source_account,
      destination: req.destination_account, minor: amount, settledAt: state.pending ? null : executedAt },
    { state: state.pending ? 'pending' : 'settled' });
    result = { status: 201, body: { id, status: state.pending ? 'pending' : 'executed', idempotency_key: key,
      amount: req.amount, currency: req.currency, source_account: req.source_account,
      destination_account: req.destination_account, reference: req.reference ?? null,
      executed_at: executedAt } };
    // A bank whose success answer cannot be read: the money moved, the id is lost.
    if (behaviour === 'noid') result = { status: 201, body: 'accepted', raw: true };
  }
  // Final answers (success, refusal) are replayed for the key; 5xx/408/429 are not, so a
  // retry with the same key is executed then.
  state.results.set(key, { fingerprint, status: result.status, body: result.body, raw: result.raw });
  return { ...result, delayMs };
}

function validate(req, headerKey) {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return 'body must be a JSON object';
  if (!headerKey) return 'the Idempotency-Key header is required';
  if (req.idempotency_key !== undefined && req.idempotency_key !== headerKey)
    return 'idempotency_key differs from the Idempotency-Key header';
  if (!Number.isSafeInteger(req.amount) || req.amount <= 0) return 'amount must be a positive integer';
  if (typeof req.currency !== 'string' || !/^[A-Z]{3}$/.test(req.currency))
    return 'currency must be 3 upper-case letters';
  for (const f of ['source_account', 'destination_account'])
    if (typeof req[f] !== 'string' || req[f] === '') return `${f} must be a non-empty string`;
  for (const f of ['description', 'reference'])
    if (req[f] !== undefined && req[f] !== null && typeof req[f] !== 'string') return `${f} must be a string`;
  return null;
}

// ---- HTTP plumbing ----
function send(res, status, body, headers, raw) {
  const text = raw ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text), ...(headers || {}) });
  res.end(text);
}

// Reads the whole body and passes on its JSON, undefined when empty, INVALID_JSON, or TOO_BIG
// (the rest is drained, keeping the connection usable).
function readBody(req, then) {
  const chunks = [];
  let size = 0;
  let tooBig = false;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) tooBig = true;
    else chunks.push(c);
  });
  req.on('end', () => {
    if (tooBig) return then(TOO_BIG);
    const text = Buffer.concat(chunks).toString('utf8');
    let json;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch (e) {
      json = INVALID_JSON;
    }
    then(json);
  });
}

const TOO_LARGE = [413, errorBody('body_too_large', 'body over 1 MiB')];

function handleTransfer(req, res) {
  // Pinned: a reset during the call does not mix the old and new runs.
  const { stats, attempts, flow } = state;
  stats.requests++;
  const key = req.headers['idempotency-key'] || null;
  let source = null;
  if (!state.sockets.has(req.socket)) {
    state.sockets.add(req.socket);
    stats.connections++;
  }
  const record = (status, body) => attempts.push({ idempotency_key: key, source, status,
    code: body && body.error ? body.error.code : null, at: new Date().toISOString() });
  // An outage in mode "refuse": dropped unanswered (recorded with status null), body unread.
  if (flow.dropsUnread()) {
    record(null, null);
    return dropConnection(req.socket);
  }
  stats.in_flight++;
  if (stats.in_flight > stats.peak_in_flight) stats.peak_in_flight = stats.in_flight;
  const answer = (status, body, headers, raw) => {
    record(status, body);
    stats.in_flight--;
    send(res, status, body, headers, raw);
  };
  readBody(req, (json) => {
    if (json !== null && typeof json === 'object' && typeof json.source_account === 'string') source = json.source_account;
    // Flow control stands in front of everything, the token included: nothing it holds back is
    // executed or stored under its key.
    const held = flow.admit();
    if (held && held.outage === 'refuse') {
      record(null, null);
      stats.in_flight--;
      return dropConnection(req.socket);
    }
    if (held) {
      const h = heldAnswer(held);
      return answer(h.status, h.body, h.headers);
    }
    if (json === TOO_BIG) return answer(...TOO_LARGE);
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`)
      return answer(401, errorBody('unauthorized', 'missing or wrong bearer token'));
    const problem = json === INVALID_JSON ? 'body is not valid JSON' : validate(json, key);
    if (problem) return answer(400, errorBody('invalid_request', problem));
    const d = decide(json, key);
    const delay = d.delayMs + state.latencyMs;
    if (delay > 0) setTimeout(() => answer(d.status, d.body, d.headers, d.raw), delay);
    else answer(d.status, d.body, d.headers, d.raw);
  });
}

function handleControl(req, res, path) {
  if (req.method === 'GET') {
    if (path === '/_control/transfers') return send(res, 200, { transfers: state.transfers });
    if (path === '/_control/attempts') return send(res, 200, { attempts: state.attempts });
    if (path === '/_control/stats') return send(res, 200, { ...state.stats, ...state.flow.stats, ...state.webhooks.stats });
    const hooks = state.webhooks.control('GET', path, {});
    if (hooks) return send(res, hooks.status, hooks.body);
    if (path === '/_control/balances')
      return send(res, 200, Object.fromEntries([...state.balances].map(([a, b]) => [a, b.toString()])));
    return send(res, 404, errorBody('not_found', `no route GET ${path}`));
  }
  if (req.method !== 'POST') return send(res, 405, errorBody('method_not_allowed', req.method));
  readBody(req, (json) => {
    if (json === TOO_BIG) return send(res, ...TOO_LARGE);
    const body = json !== null && typeof json === 'object' ? json : {};
    if (path === '/_control/reset') {
      reset();
      return send(res, 200, { reset: true });
    }
    if (path === '/_control/settlement' && body.pending !== undefined) {
      if (typeof body.pending !== 'boolean') return send(res, 400, errorBody('invalid_request', 'pending must be a boolean'));
      state.pending = body.pending;
    }
    const handled = state.flow.control(path, body) || state.settlement.control(path, body) ||
      state.webhooks.control('POST', path, body);
    if (handled) {
      if (path === '/_control/settlement' && handled.status === 200) handled.body.pending = state.pending;
      return send(res, handled.status, handled.body);
    }
    if (path === '/_control/latency') {
      if (!Number.isSafeInteger(body.ms) || body.ms < 0)
        return send(res, 400, errorBody('invalid_request', 'ms must be a non-negative integer'));
      state.latencyMs = body.ms;
      return send(res, 200, { latency_ms: state.latencyMs });
    }
    if (path === '/_control/behaviour') {
      if (typeof body.account !== 'string' || typeof body.behaviour !== 'string' ||
          !BEHAVIOUR.test(body.behaviour))
        return send(res, 400, errorBody('invalid_request',
          'need {"account": string, "behaviour": normal|decline|closed|down|ratelimit|' +
          'timeout408|bigerror|noid|flaky<N>|slow<MS>}'));
      state.behaviours.set(body.account, body.behaviour);
      return send(res, 200, { account: body.account, behaviour: body.behaviour });
    }
    return send(res, 404, errorBody('not_found', `no route POST ${path}`));
  });
}

// GET /transfers/{id}: the transfer's state, with the same bearer token as POST /transfers.
function lookUp(req, res, rawId) {
  if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`)
    return send(res, 401, errorBody('unauthorized', 'missing or wrong bearer token'));
  let id = rawId;
  try {
    id = decodeURIComponent(rawId);
  } catch (e) { /* an id that does not exist */ }
  const rec = state.settlement.find(id);
  if (!rec) return send(res, 404, errorBody('not_found', `no transfer ${id}`));
  return send(res, 200, transferView(rec));
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path.startsWith('/_control/')) return handleControl(req, res, path);
  if (path === '/healthz') return send(res, 200, { ok: true });
  if (path === '/transfers' && req.method === 'POST') return handleTransfer(req, res);
  // Any other request is an API request too: flow control counts it and may hold it back.
  const held = state.flow.admit();
  if (held && held.outage === 'refuse') return dropConnection(req.socket);
  if (held) {
    const h = heldAnswer(held);
    return send(res, h.status, h.body, h.headers);
  }
  if (path === '/transfers') return send(res, 405, errorBody('method_not_allowed', req.method));
  const m = /^\/transfers\/([^/]+)$/.exec(path);
  if (m && req.method === 'GET') return lookUp(req, res, m[1]);
  return send(res, 404, errorBody('not_found', `no route ${req.method} ${path}`));
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 125000;
server.maxRequestsPerSocket = 0;
server.requestTimeout = 0;
server.on('error', (e) => fatal(e.message));
server.listen({ port: opts.port, host: opts.host, backlog: 2048 }, () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
