'use strict';
// The part every fake bank shares: HTTP plumbing, the in-memory ledger, test behaviours chosen by
// account prefix, the idempotency gate, and the control API. A bank module (../banks/*.js) only
// says how its requests look, how its answers look and which of its answers are remembered under
// an idempotency key; see README.md for the bank module interface.

const http = require('http');
const crypto = require('crypto');
const { isPlainObject, canonical } = require('./validate');
const { FlowControl, dropConnection } = require('./flow_control');
const { Webhooks } = require('./webhooks');
const { Settlement } = require('./settlement');

const MAX_BODY = 1024 * 1024;
const START_BALANCE = 10n ** 15n; // unknown accounts start rich (minor units)
const INVALID_JSON = Symbol('invalid JSON');

// Behaviours, spelled like the account prefixes without the trailing underscore.
// ratelimit<N> answers 429 with Retry-After N (plain `ratelimit` = 1 s); ratelimitbare answers
// 429 without any retry hint. core502 exists only where the bank module lists it.
const BEHAVIOUR = /^(normal|decline|closed|frozen|missing|down|core502|ratelimitbare|ratelimit\d*|flaky\d+|slow\d+)$/;
const PREFIX = /^(decline|closed|frozen|missing|down|core502|ratelimitbare|ratelimit\d*|flaky\d+|slow\d+)_/;

function parseBehaviour(text) {
  const m = /^(ratelimit|flaky|slow)(\d*)$/.exec(text);
  if (!m) return { name: text, n: 0 };
  return { name: m[1], n: m[2] === '' ? 1 : Number(m[2]) };
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function randomString(n, alphabet = ALNUM) {
  const bytes = crypto.randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

function freshState(latencyMs, maxRps) {
  return {
    latencyMs,
    webhooks: null, // Webhooks (./webhooks.js), set by Core.reset
    settlement: null, // Settlement (./settlement.js): ACH transfers after their creation
    flow: new FlowControl(maxRps), // --max-rps and the outage switch, with their counters
    behaviours: new Map(), // account -> behaviour text set through the control API
    balances: new Map(), // account -> BigInt minor units
    results: new Map(), // idempotency key -> {fingerprint, status, body, headers, resourceId}
    inFlight: new Set(), // keys whose first request was decided but not answered yet
    flaky: new Map(), // key (or body fingerprint) -> 5xx answers given so far
    objects: new Map(), // id -> {kind, object}: what the bank's GET routes can find
    transfers: [],
    attempts: [],
    stats: { executed: 0, requests: 0, in_flight: 0, peak_in_flight: 0, connections: 0 },
    sockets: new WeakSet(),
  };
}

class Core {
  constructor(bank, opts) {
    this.bank = bank;
    this.opts = opts;
    // Numeric ids (Unit) keep counting across resets so an id is never handed out twice by
    // one process; a random start keeps separate runs from producing the same ids.
    this.nextNumber = 100000 + crypto.randomInt(800000);
    this.reset();
  }

  reset() {
    if (this.state) {
      this.state.webhooks.close();
      this.state.settlement.close();
    }
    const st = freshState(this.opts.latencyMs, this.opts.maxRps);
    // The bank's lifecycle adapter (README.md, "Settlement and returns"): how its ACH transfers
    // look in each state, its webhook events and their signature.
    const adapter = this.bank.lifecycle(this);
    st.webhooks = new Webhooks({ sign: adapter.sign, url: this.opts.webhookUrl ?? null,
      secret: this.opts.webhookSecret ?? null });
    st.settlement = new Settlement({ adapter, webhooks: st.webhooks,
      settleAfterMs: this.opts.settleAfterMs ?? null, returnCode: this.opts.returnCode ?? null,
      money: (rec, delta) => st.balances.set(rec.source, this.balance(rec.source, st) + delta) });
    this.adapter = adapter;
    this.state = st;
  }

  // This fake's own base URL (for links in webhook bodies); set once listening.
  baseUrl() {
    return this.base || 'http://127.0.0.1';
  }

  randomId(prefix, n = 20, alphabet = ALNUM) {
    return prefix + randomString(n, alphabet);
  }

  numericId() {
    return String(this.nextNumber++);
  }

  behaviourOf(account) {
    const explicit = this.state.behaviours.get(account);
    if (explicit !== undefined) return parseBehaviour(explicit);
    const m = typeof account === 'string' ? PREFIX.exec(account) : null;
    if (!m || (m[1] === 'core502' && !this.bank.behaviours.includes('core502'))) return parseBehaviour('normal');
    return parseBehaviour(m[1]);
  }

  balance(account, st = this.state) {
    let b = st.balances.get(account);
    if (b === undefined) {
      b = START_BALANCE;
      st.balances.set(account, b);
    }
    return b;
  }

  findObject(id, kind) {
    const o = this.state.objects.get(id);
    return o && (kind === undefined || o.kind === kind) ? o.object : null;
  }

  listObjects(kind) {
    const out = [];
    for (const o of this.state.objects.values()) if (kind === undefined || o.kind === kind) out.push(o.object);
    return out;
  }

  // ---- the idempotency gate and the execution ----
  //
  // Everything from the gate to the ledger runs synchronously, in one turn of the event loop:
  // of any number of concurrent requests with one key, exactly one gets past the gate.

  // Requests that already have an answer for their key: a concurrent duplicate while the first
  // is still being answered, or a repeat of a remembered answer. Returns an answer or null.
  gate(key, fingerprint) {
    if (key === null) return null;
    const stored = this.state.results.get(key);
    if (this.state.inFlight.has(key)) return this.bank.concurrent(key, stored || null);
    if (stored) return this.bank.replay(stored, stored.fingerprint === fingerprint);
    return null;
  }

  // Remembers `answer` under the key (if the bank keeps answers of that status) and marks the
  // key in flight until the answer has been written.
  remember(key, fingerprint, answer, resourceId) {
    if (key === null) return answer;
    const keep = answer.stored || answer;
    const st = this.state;
    if (this.bank.stores(keep.status)) {
      // Snapshots: a later GET may move the object on (pending -> sent); a replay must not.
      st.results.set(key, { fingerprint, status: keep.status, body: structuredClone(keep.body),
        headers: keep.headers || {}, resourceId: resourceId || null });
    }
    st.inFlight.add(key);
    answer.onSent = () => st.inFlight.delete(key);
    return answer;
  }

  // A request refused before any account was looked at (invalid fields): it still goes through
  // the gate, and banks that keep refusals remember it.
  refuse(req, answer) {
    return this.gate(req.key, req.fingerprint) || this.remember(req.key, req.fingerprint, answer, null);
  }

  // Behaviours that stand in front of the bank: nothing is executed, nothing is remembered.
  frontDoor(behaviour, spec) {
    switch (behaviour.name) {
      case 'ratelimit': return this.bank.rateLimited(behaviour.n);
      case 'ratelimitbare': return this.bank.rateLimited(null);
      case 'down': return this.bank.unavailable('down');
      case 'flaky': {
        const k = spec.key !== null ? `key:${spec.key}` : `body:${spec.fingerprint}`;
        const seen = this.state.flaky.get(k) || 0;
        if (seen < behaviour.n) {
          this.state.flaky.set(k, seen + 1);
          return this.bank.unavailable('flaky');
        }
        return null;
      }
      default: return null;
    }
  }

  outcome(behaviour, spec) {
    switch (behaviour.name) {
      case 'missing': return 'missing';
      case 'closed': return 'closed';
      case 'frozen': return 'frozen';
      case 'decline': return 'insufficient';
      default: break;
    }
    const moves = spec.executes !== false && spec.ledger !== 'none';
    if (moves && !spec.allowOverdraft && this.balance(spec.source) < spec.minor) return 'insufficient';
    return 'ok';
  }

  execute(spec, id, now) {
    const st = this.state;
    if (spec.ledger === 'both' || spec.ledger === 'debit')
      st.balances.set(spec.source, this.balance(spec.source) - spec.minor);
    if (spec.ledger === 'both')
      st.balances.set(spec.destination, this.balance(spec.destination) + spec.minor);
    st.transfers.push({ id, idempotency_key: spec.key, kind: spec.kind, amount: spec.amount,
      currency: spec.currency, source: spec.source, destination: spec.destination,
      direction: spec.direction, executed_at: now });
    st.stats.executed++;
  }

  // Creates a transfer described by `spec` (see README.md, "bank module interface"), or answers
  // why not. Returns an answer {status, body, headers, delayMs, onSent}.
  create(spec) {
    const behaviour = this.behaviourOf(spec.source);
    const front = this.frontDoor(behaviour, spec);
    if (front) return front;
    const earlier = this.gate(spec.key, spec.fingerprint);
    if (earlier) return earlier;

    const outcome = this.outcome(behaviour, spec);
    const id = spec.newId();
    const now = new Date().toISOString();
    const answer = spec.render(outcome, { id, now, behaviour: behaviour.name });
    if (outcome === 'ok' && spec.executes !== false) this.execute(spec, id, now);
    if (answer.object) {
      const object = structuredClone(answer.object);
      this.state.objects.set(id, { kind: spec.kind, object });
      // An accepted ACH transfer is on its way: followed until it settles, returns or is canceled.
      if (spec.kind === 'ach' && outcome === 'ok' && this.adapter.follows(object)) {
        const rec = { id, object, direction: spec.direction, source: spec.source, minor: spec.minor };
        this.state.settlement.track(rec, { created: this.adapter.created ? this.adapter.created(rec) : null });
      }
    }
    this.remember(spec.key, spec.fingerprint, answer, answer.object ? id : null);
    // slow<MS>: the money moved already; only the answer is late.
    if (behaviour.name === 'slow') answer.delayMs = behaviour.n;
    return answer;
  }

  // ---- HTTP ----

  handle(req, res) {
    let url;
    try {
      url = new URL(req.url, 'http://fake.invalid');
    } catch (e) {
      return sendJson(res, 400, { error: { code: 'invalid_request', message: 'bad request target' } });
    }
    const path = url.pathname;
    if (path === '/healthz') return sendJson(res, 200, { ok: true, bank: this.bank.name });
    if (path.startsWith('/_control/')) return this.control(req, res, path);
    this.bankRequest(req, res, url);
  }

  bankRequest(req, res, url) {
    const st = this.state; // pinned: a reset during this request does not mix two runs
    const { bank } = this;
    st.stats.requests++;
    if (!st.sockets.has(req.socket)) {
      st.sockets.add(req.socket);
      st.stats.connections++;
    }
    const attempt = { method: req.method, path: req.url, idempotency_key: null, status: null,
      content_type: req.headers['content-type'] ?? null,
      authorization: req.headers.authorization ?? null, body: null, at: new Date().toISOString() };
    st.attempts.push(attempt);
    // An outage in mode "refuse": the connection is dropped before the body is read.
    if (st.flow.dropsUnread()) return dropConnection(req.socket);
    st.stats.in_flight++;
    if (st.stats.in_flight > st.stats.peak_in_flight) st.stats.peak_in_flight = st.stats.in_flight;

    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        st.stats.in_flight--;
      }
    };
    let decided = false;
    res.on('close', () => {
      if (!decided) settle(); // the client went away before the body arrived
    });

    readBody(req, (buf, tooBig) => {
      decided = true;
      let json;
      if (!tooBig) {
        const text = buf.toString('utf8');
        attempt.body = text;
        // Keep the exact bytes when they are not valid UTF-8 (the string would lose them).
        if (!Buffer.from(text, 'utf8').equals(buf)) attempt.body_base64 = buf.toString('base64');
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch (e) {
          json = INVALID_JSON;
        }
      }
      attempt.idempotency_key = bank.attemptKey(req, json) ?? null;

      // Flow control stands in front of everything, credentials included: nothing it refuses
      // reaches a route, so nothing is executed or remembered under a key.
      const held = st.flow.admit();
      if (held && held.outage === 'refuse') {
        settle();
        return dropConnection(req.socket);
      }
      let answer;
      try {
        if (held) answer = held.outage ? bank.unavailable('outage') : bank.rateLimited(held.retryAfter);
        else answer = this.route(req, url, json, tooBig);
      } catch (e) {
        process.stderr.write(`fake_banks: ${e.stack || e}\n`);
        answer = bank.unavailable('bug');
      }
      attempt.status = answer.status;
      const delay = (answer.delayMs || 0) + st.latencyMs;
      const send = () => {
        writeAnswer(res, bank, answer);
        settle();
        if (answer.onSent) answer.onSent();
      };
      if (delay > 0) setTimeout(send, delay);
      else send();
    });
  }

  route(req, url, json, tooBig) {
    const { bank } = this;
    if (tooBig) return bank.tooLarge();
    // Wrong or missing credentials: refused before anything else is looked at.
    if (!bank.authorized(req, this.opts)) return bank.unauthorized();
    for (const r of bank.routes) {
      if (r.method !== req.method) continue;
      const m = r.path.exec(url.pathname);
      if (m) return r.handle({ core: this, req, url, params: m.slice(1).map(safeDecode), json });
    }
    return bank.notFound(req.method, url.pathname);
  }

  // ---- control API (no auth, the same on every bank) ----

  control(req, res, path) {
    const st = this.state;
    if (req.method === 'GET') {
      if (path === '/_control/transfers') return sendJson(res, 200, { transfers: st.transfers });
      if (path === '/_control/attempts') return sendJson(res, 200, { attempts: st.attempts });
      if (path === '/_control/stats') {
        return sendJson(res, 200, { ...st.stats, ...st.flow.stats, ...st.webhooks.stats });
      }
      const hooks = st.webhooks.control('GET', path, {});
      if (hooks) return sendJson(res, hooks.status, hooks.body);
      if (path === '/_control/balances') {
        return sendJson(res, 200, Object.fromEntries([...st.balances].map(([a, b]) => [a, b.toString()])));
      }
      return sendJson(res, 404, controlError('not_found', `no route GET ${path}`));
    }
    if (req.method !== 'POST') return sendJson(res, 405, controlError('method_not_allowed', req.method));
    readBody(req, (buf, tooBig) => {
      if (tooBig) return sendJson(res, 413, controlError('body_too_large', 'body over 1 MiB'));
      let body = {};
      try {
        const parsed = buf.length ? JSON.parse(buf.toString('utf8')) : {};
        if (isPlainObject(parsed)) body = parsed;
      } catch (e) {
        return sendJson(res, 400, controlError('invalid_request', 'body is not JSON'));
      }
      if (path === '/_control/reset') {
        this.reset();
        return sendJson(res, 200, { reset: true });
      }
      const handled = this.state.flow.control(path, body) || this.state.settlement.control(path, body) ||
        this.state.webhooks.control('POST', path, body);
      if (handled) return sendJson(res, handled.status, handled.body);
      if (path === '/_control/latency') {
        if (!Number.isSafeInteger(body.ms) || body.ms < 0)
          return sendJson(res, 400, controlError('invalid_request', 'ms must be a non-negative integer'));
        this.state.latencyMs = body.ms;
        return sendJson(res, 200, { latency_ms: body.ms });
      }
      if (path === '/_control/behaviour') {
        const ok = typeof body.account === 'string' && typeof body.behaviour === 'string' &&
          BEHAVIOUR.test(body.behaviour) &&
          (body.behaviour !== 'core502' || this.bank.behaviours.includes('core502'));
        if (!ok) {
          return sendJson(res, 400, controlError('invalid_request',
            'need {"account": string, "behaviour": normal|decline|closed|frozen|missing|down|' +
            `ratelimit[N]|ratelimitbare|flaky<N>|slow<MS>${this.bank.behaviours.includes('core502') ? '|core502' : ''}}`));
        }
        if (body.behaviour === 'normal') this.state.behaviours.set(body.account, 'normal');
        else this.state.behaviours.set(body.account, body.behaviour);
        return sendJson(res, 200, { account: body.account, behaviour: body.behaviour });
      }
      return sendJson(res, 404, controlError('not_found', `no route POST ${path}`));
    });
  }
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return s; // a malformed escape simply names an id that does not exist
  }
}

function controlError(code, message) {
  return { error: { code, message } };
}

// Reads the whole body; over MAX_BODY the rest is drained (keeping the connection usable) and
// `tooBig` is set.
function readBody(req, then) {
  const chunks = [];
  let size = 0;
  let tooBig = false;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      tooBig = true;
      chunks.length = 0;
    } else chunks.push(c);
  });
  req.on('error', () => {}); // an aborted upload: 'close' on the response settles the stats
  req.on('end', () => then(tooBig ? null : Buffer.concat(chunks), tooBig));
}

function sendJson(res, status, body, headers, contentType = 'application/json') {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text),
    ...(headers || {}) });
  res.end(text);
}

function writeAnswer(res, bank, answer) {
  if (res.destroyed) return; // the client gave up; the decision stands anyway
  sendJson(res, answer.status, answer.body, answer.headers, bank.contentType);
}

function createServer(bank, opts) {
  const core = new Core(bank, opts);
  const server = http.createServer((req, res) => core.handle(req, res));
  // Built for benchmarks too: long keep-alive, unlimited requests per socket.
  server.keepAliveTimeout = 120000;
  server.headersTimeout = 125000;
  server.maxRequestsPerSocket = 0;
  server.requestTimeout = 0;
  return { server, core };
}

// Helpers for bank modules.

function header(req, name) {
  const v = req.headers[name];
  return v === undefined ? null : v;
}

// application/json, optionally with parameters such as charset.
function isJsonContentType(req) {
  const ct = req.headers['content-type'];
  return typeof ct === 'string' && /^application\/json\s*(;.*)?$/i.test(ct.trim());
}

function basicCredentials(req) {
  const m = /^Basic ([A-Za-z0-9+/]+={0,2})$/.exec(req.headers.authorization || '');
  if (!m) return null;
  return Buffer.from(m[1], 'base64').toString('utf8');
}

function fingerprint(method, path, json) {
  return `${method} ${path} ${canonical(json)}`;
}

module.exports = { createServer, Core, INVALID_JSON, MAX_BODY, header, isJsonContentType,
  basicCredentials, fingerprint, BEHAVIOUR, PREFIX };
