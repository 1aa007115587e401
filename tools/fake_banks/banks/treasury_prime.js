'use strict';
// Treasury Prime (https://docs.treasuryprime.com/reference/introduction): HTTP Basic with the API
// key id and secret, JSON bodies, errors {"error": "..."}, amounts as decimal strings ("100.00"),
// the X-Idempotency-Key header. Book transfers and ACHs are created `pending` (asynchronous); a
// 502 means the bank core is offline and asynchronous actions complete once it is back.
// Sources and every "docs silent" choice: README.md, section Treasury Prime.

const { checkFields, isPlainObject } = require('../lib/validate');
const { INVALID_JSON, header, isJsonContentType, basicCredentials, fingerprint } = require('../lib/core');

const KEY_HEADER = 'x-idempotency-key';
const KEY_MAX = 200; // not published: docs silent
// The API reference documents "200 - The book created" / "200 - The ach created".
const CREATED = 200;
const AMOUNT = /^[0-9]+\.[0-9]{2}$/;

function error(status, message) {
  return { status, body: { error: message } };
}

function invalid(problems) {
  return error(400, problems.map((p) => `${p.field} ${p.message}`).join('; '));
}

// "100.00" -> 10000n; the pattern has already been checked.
function minorUnits(amount) {
  const [units, cents] = amount.split('.');
  return BigInt(units) * 100n + BigInt(cents);
}

const AMOUNT_RULE = { type: 'string', required: true, pattern: AMOUNT,
  patternText: 'must be a decimal string with exactly two decimals, like "100.00"',
  check: (v) => (minorUnits(v) > 0n ? null : 'must be greater than 0.00') };

// "The total size of the object, serialized, must be less than 1KB in size."
const USERDATA_RULE = { type: 'object',
  check: (v) => (Buffer.byteLength(JSON.stringify(v)) < 1024 ? null : 'must serialize to less than 1KB') };

function prepare(ctx) {
  const key = header(ctx.req, KEY_HEADER);
  if (key !== null && (key.length === 0 || key.length > KEY_MAX))
    return { answer: error(400, `X-Idempotency-Key must be between 1 and ${KEY_MAX} characters`) };
  if (!isJsonContentType(ctx.req)) return { answer: error(415, 'Content-Type must be application/json') };
  if (ctx.json === INVALID_JSON || !isPlainObject(ctx.json)) {
    return { answer: error(400, 'request body must be a JSON object'), key,
      fingerprint: `${ctx.req.method} ${ctx.url.pathname} raw`, refuse: true };
  }
  return { key, json: ctx.json, fingerprint: fingerprint(ctx.req.method, ctx.url.pathname, ctx.json) };
}

// Account-level refusals. Only the insufficient-funds case is a created object with
// status "error" (a 2xx carrying a rejection); the codes and texts are not published.
function accountRefusal(outcome) {
  switch (outcome) {
    case 'closed': return error(400, 'Account closed');
    case 'frozen': return error(400, 'Account frozen');
    case 'missing': return error(404, 'Not found');
    default: return null;
  }
}

// The object is created either way; the answer is 502 when the core is offline (core502).
function created(object, behaviour) {
  if (behaviour === 'core502') {
    return { status: 502, body: { error: 'Bank core is offline; the transfer will complete once it is back' },
      object, stored: { status: CREATED, body: object } };
  }
  return { status: CREATED, body: object, object };
}

const BOOK_FIELDS = {
  amount: AMOUNT_RULE,
  from_account_id: { type: 'string', required: true, minLength: 1 },
  to_account_id: { type: 'string', required: true, minLength: 1 },
  description: { type: 'string', maxLength: 10 },
  userdata: USERDATA_RULE,
};

function createBook(ctx) {
  const p = prepare(ctx);
  if (p.answer) return p.refuse ? ctx.core.refuse(p, p.answer) : p.answer;
  const b = p.json;
  const problems = checkFields(b, BOOK_FIELDS);
  if (problems.length) return ctx.core.refuse(p, invalid(problems));
  return ctx.core.create({
    key: p.key, fingerprint: p.fingerprint, kind: 'book',
    source: b.from_account_id, destination: b.to_account_id,
    amount: b.amount, minor: minorUnits(b.amount), currency: 'USD', direction: 'credit',
    ledger: 'both',
    newId: () => ctx.core.randomId('book_', 14),
    render(outcome, t) {
      const refused = accountRefusal(outcome);
      if (refused) return refused;
      const declined = outcome === 'insufficient';
      const object = {
        id: t.id, status: declined ? 'error' : 'pending',
        amount: b.amount, from_account_id: b.from_account_id, to_account_id: b.to_account_id,
        description: b.description ?? null, userdata: b.userdata ?? null,
        error: declined ? 'Insufficient funds' : null,
        org_id: 'org_fake', bank_id: 'bank_fake',
        created_at: t.now, updated_at: t.now,
      };
      return created(object, t.behaviour);
    },
  });
}

const ACH_FIELDS = {
  account_id: { type: 'string', required: true, minLength: 1 },
  amount: AMOUNT_RULE,
  counterparty_id: { type: 'string', required: true, minLength: 1 },
  direction: { type: 'string', required: true, enum: ['credit', 'debit'] },
  sec_code: { type: 'string', required: true, enum: ['ccd', 'ppd', 'web'] },
  addenda: { type: 'array', check: (v) => (v.every((x) => typeof x === 'string') ? null : 'must be an array of strings') },
  description: { type: 'string', maxLength: 10 },
  originator_name: { type: 'string', maxLength: 16 },
  service: { type: 'string', enum: ['standard', 'sameday'] },
  userdata: USERDATA_RULE,
};

// The next weekday after today (UTC): when a standard ACH created now takes effect.
function nextBusinessDay(now) {
  const d = new Date(now);
  do d.setUTCDate(d.getUTCDate() + 1); while (d.getUTCDay() === 0 || d.getUTCDay() === 6);
  return d.toISOString().slice(0, 10);
}

function createAch(ctx) {
  const p = prepare(ctx);
  if (p.answer) return p.refuse ? ctx.core.refuse(p, p.answer) : p.answer;
  const b = p.json;
  const problems = checkFields(b, ACH_FIELDS);
  // "Currently only supported for ACH transfers with the SEC code CCD and WEB"
  if (b.addenda !== undefined && b.sec_code === 'ppd')
    problems.push({ field: 'addenda', message: 'is only supported with sec_code ccd or web' });
  if (problems.length) return ctx.core.refuse(p, invalid(problems));
  const credit = b.direction === 'credit';
  return ctx.core.create({
    key: p.key, fingerprint: p.fingerprint, kind: 'ach',
    source: b.account_id, destination: b.counterparty_id,
    amount: b.amount, minor: minorUnits(b.amount), currency: 'USD', direction: b.direction,
    ledger: credit ? 'debit' : 'none',
    newId: () => ctx.core.randomId('ach_', 14),
    render(outcome, t) {
      const refused = accountRefusal(outcome);
      if (refused) return refused;
      const declined = outcome === 'insufficient';
      const object = {
        id: t.id, status: declined ? 'error' : 'pending',
        account_id: b.account_id, amount: b.amount, counterparty_id: b.counterparty_id,
        direction: b.direction, sec_code: b.sec_code, service: b.service ?? 'standard',
        description: b.description ?? null, originator_name: b.originator_name ?? null,
        addenda: b.addenda ?? null,
        effective_date: b.service === 'sameday' ? t.now.slice(0, 10) : nextBusinessDay(t.now),
        scheduled_settlement: null, userdata: b.userdata ?? null,
        error: declined ? 'Insufficient funds' : null,
        org_id: 'org_fake', bank_id: 'bank_fake',
        created_at: t.now, updated_at: t.now,
      };
      return created(object, t.behaviour);
    },
  });
}

// GET /book/{id}: a book transfer is asynchronous, so the first look after creation finds it
// completed (pending -> sent). GET /ach/{id}: ACHs stay pending until the settlement control, a
// simulation or --settle-after-ms moves them on (the sandbox sends them at the top of the hour;
// the fake never does on its own).
function retrieve(ctx, kind) {
  const object = ctx.core.findObject(ctx.params[0], kind);
  if (!object) return error(404, 'Not found');
  if (kind === 'book' && object.status === 'pending') {
    object.status = 'sent';
    object.updated_at = new Date().toISOString();
  }
  return { status: 200, body: object };
}

// ---- after creation: settlement, returns, webhooks (README.md, "Settlement and returns") ----

const STATUS = { submitted: 'processing', settled: 'sent', returned: 'returned', canceled: 'canceled' };

function lifecycle(core) {
  return {
    follows: (object) => object.status === 'pending',
    hasSubmitted: () => true,
    apply(rec, state, info) {
      const o = rec.object;
      o.status = STATUS[state];
      o.updated_at = info.now;
      if (state === 'returned') o.error = info.code;
    },
    // A thin ach.update for every change (no event id in the body: the fake's own id names it in
    // /_control/webhooks only).
    event: (rec) => ({ id: core.randomId('tpevent_', 14), type: 'ach.update', transfer_id: rec.id,
      body: JSON.stringify({ event: 'ach.update', op: 'update', id: rec.id, url: `${core.baseUrl()}/ach/${rec.id}` }) }),
    view: (rec) => rec.object,
    // No signature: the Basic credentials configured with the webhook ("user:password").
    sign: (e, secret) => (secret === null ? {} : { Authorization: `Basic ${Buffer.from(secret, 'utf8').toString('base64')}` }),
  };
}

// POST /simulation {"type": "ach.processing_sent"|"ach.processing_returned", "simulation":
// {"ach_id"}} (sandbox): only for ACHs created with userdata.manual = true. processing_sent:
// pending/processing -> sent; processing_returned: -> returned with error "R01" (choosing the code
// is not documented: chosen). Answers 200 {"id": "sim_...", "type", "simulation"} (shape chosen).
function simulate(ctx) {
  const p = prepare(ctx);
  if (p.answer) return p.answer;
  const problems = checkFields(p.json, {
    type: { type: 'string', required: true, enum: ['ach.processing_sent', 'ach.processing_returned'] },
    simulation: { type: 'object', required: true },
  });
  if (!problems.length) {
    problems.push(...checkFields(p.json.simulation, { ach_id: { type: 'string', required: true, minLength: 1 } },
      'simulation.'));
  }
  if (problems.length) return invalid(problems);
  const settlement = ctx.core.state.settlement;
  const rec = settlement.find(p.json.simulation.ach_id);
  if (!rec) return error(404, 'Not found');
  if (!(isPlainObject(rec.object.userdata) && rec.object.userdata.manual === true))
    return error(400, 'ACH simulations need an ACH created with userdata.manual = true');
  const returned = p.json.type === 'ach.processing_returned';
  const r = settlement.act(rec.id, returned ? 'return' : 'settle', returned ? 'R01' : null);
  if (r.error) return error(400, `ACH ${rec.id} is ${rec.object.status}`);
  return { status: 200, body: { id: ctx.core.randomId('sim_', 14), type: p.json.type, simulation: p.json.simulation } };
}

module.exports = {
  name: 'treasury_prime',
  lifecycle,
  contentType: 'application/json',
  behaviours: ['core502'],
  credentials: [{ flag: '--key-id', opt: 'keyId' }, { flag: '--secret', opt: 'secret' }],

  authorized(req, opts) {
    return basicCredentials(req) === `${opts.keyId}:${opts.secret}`;
  },
  attemptKey(req) {
    return header(req, KEY_HEADER);
  },

  unauthorized: () => error(401, 'Unauthorized'),
  tooLarge: () => error(413, 'Request body too large'),
  notFound: () => error(404, 'Not found'),
  rateLimited(seconds) {
    const answer = error(429, 'Too many requests');
    if (seconds !== null) answer.headers = { 'Retry-After': String(seconds) };
    return answer;
  },
  // down_: the core is offline and this request was NOT taken (see core502 for the other case).
  // The switched outage (/_control/outage) is the API itself unavailable: 503.
  unavailable: (kind) => (kind === 'outage' ? error(503, 'Service unavailable') : error(502, 'Bank core is offline')),
  concurrent: () => error(409, 'A request with this X-Idempotency-Key is still being processed'),
  // Same key, any body: the original answer (undocumented: the harsher reading is the silent
  // original, which a client cannot tell from a new transfer).
  replay: (stored) => ({ status: stored.status, body: stored.body, headers: { ...stored.headers } }),
  // Final answers are remembered, refusals included (undocumented: harsher reading).
  stores: (status) => status < 500 && status !== 429,

  routes: [
    { method: 'POST', path: /^\/book$/, handle: createBook },
    { method: 'POST', path: /^\/ach$/, handle: createAch },
    { method: 'GET', path: /^\/book\/([^/]+)$/, handle: (ctx) => retrieve(ctx, 'book') },
    { method: 'GET', path: /^\/ach\/([^/]+)$/, handle: (ctx) => retrieve(ctx, 'ach') },
    { method: 'POST', path: /^\/simulation$/, handle: simulate },
  ],
};
