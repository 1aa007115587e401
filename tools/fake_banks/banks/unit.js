'use strict';
// Unit (https://unit.co/docs/api/): JSON:API. Bearer token, Content-Type
// application/vnd.api+json, POST /payments with data.type bookPayment or achPayment, errors as
// {"errors":[{status, title, code, detail, source}]}. A refused payment is a created resource
// with status "Rejected" and a reason; the idempotency key travels in data.attributes.
// Sources and every "docs silent" choice: README.md, section Unit.

const { checkFields, isPlainObject } = require('../lib/validate');
const { INVALID_JSON, fingerprint } = require('../lib/core');
const { hmac } = require('../lib/webhooks');

const MEDIA_TYPE = 'application/vnd.api+json';
const KEY_MAX = 255;

function errors(status, title, detail, extra) {
  return { status, body: { errors: [{ status: String(status), title, ...(extra || {}),
    ...(detail !== undefined ? { detail } : {}) }] } };
}

function invalid(problems) {
  return { status: 400, body: { errors: problems.map((p) => ({
    status: '400', title: 'Invalid Value', code: 'invalid_value',
    detail: `${p.field} ${p.message}`,
    source: { pointer: `/${p.field.replace(/\./g, '/')}` },
  })) } };
}

const REJECTION_REASON = { insufficient: 'InsufficientFunds', closed: 'AccountClosed', frozen: 'AccountFrozen' };

// Tags: at most 15 entries, each value a string of 1 to 255 characters (Unit's OpenAPI).
// Key length is not published: at most 128 characters, not empty (docs silent).
function checkTags(tags) {
  const entries = Object.entries(tags);
  if (entries.length > 15) return 'must have at most 15 entries';
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > 128) return 'keys must be 1 to 128 characters';
    if (typeof v !== 'string' || v.length === 0 || v.length > 255) return `value of ${k} must be a string of 1 to 255 characters`;
  }
  return null;
}

const COMMON_ATTRIBUTES = {
  amount: { type: 'integer', required: true, min: 1 },
  idempotencyKey: { type: 'string', minLength: 1, maxLength: KEY_MAX },
  tags: { type: 'object', check: checkTags },
};

const BOOK_ATTRIBUTES = {
  ...COMMON_ATTRIBUTES,
  description: { type: 'string', required: true, minLength: 1, maxLength: 80 },
  transactionSummaryOverride: { type: 'string', maxLength: 100 },
};

const ACH_ATTRIBUTES = {
  ...COMMON_ATTRIBUTES,
  direction: { type: 'string', required: true, enum: ['Credit', 'Debit'] },
  // The Company Entry Description of the Nacha batch: 10 characters.
  description: { type: 'string', required: true, minLength: 1, maxLength: 10 },
  addenda: { type: 'string', maxLength: 80 },
  sameDay: { type: 'boolean' },
  secCode: { type: 'string', enum: ['WEB', 'CCD', 'PPD'] },
  clearingDaysOverride: { type: 'integer', min: 1 },
};

const INLINE_COUNTERPARTY = {
  routingNumber: { type: 'string', required: true, pattern: /^\d{9}$/, patternText: 'must be 9 digits' },
  accountNumber: { type: 'string', required: true, minLength: 1, maxLength: 17 },
  accountType: { type: 'string', required: true, enum: ['Checking', 'Savings', 'Loan'] },
  name: { type: 'string', required: true, minLength: 1, maxLength: 255 },
};

// A relationship {"data": {"type": one of types, "id": "..."}}; returns problems.
function checkRelationship(rel, name, types) {
  const at = `data.relationships.${name}`;
  if (!isPlainObject(rel) || !isPlainObject(rel.data) || Object.keys(rel).length !== 1)
    return [{ field: at, message: 'must be {"data": {"type", "id"}}' }];
  return checkFields(rel.data, {
    type: { type: 'string', required: true, enum: types },
    id: { type: 'string', required: true, minLength: 1 },
  }, `${at}.data.`);
}

function checkRelationships(rels, wanted) {
  if (!isPlainObject(rels)) return [{ field: 'data.relationships', message: 'must be an object' }];
  const problems = [];
  for (const k of Object.keys(rels)) {
    if (!(k in wanted)) problems.push({ field: `data.relationships.${k}`, message: 'is not a recognized relationship' });
  }
  for (const [k, types] of Object.entries(wanted)) {
    if (rels[k] === undefined) problems.push({ field: `data.relationships.${k}`, message: 'is required' });
    else problems.push(...checkRelationship(rels[k], k, types));
  }
  return problems;
}

const ACCOUNT_TYPES = ['depositAccount', 'account'];

// Validates a POST /payments document. Returns {problems} or {type, a, rels, inline}.
function validatePayment(doc) {
  const top = checkFields(doc, { data: { type: 'object', required: true } });
  if (top.length) return { problems: top };
  const d = doc.data;
  const shape = checkFields(d, {
    type: { type: 'string', required: true, enum: ['bookPayment', 'achPayment'] },
    attributes: { type: 'object', required: true },
    relationships: { type: 'object', required: true },
  }, 'data.');
  if (shape.length) return { problems: shape };
  const a = d.attributes;
  if (d.type === 'bookPayment') {
    const problems = checkFields(a, BOOK_ATTRIBUTES, 'data.attributes.');
    problems.push(...checkRelationships(d.relationships,
      { account: ACCOUNT_TYPES, counterpartyAccount: ACCOUNT_TYPES }));
    return problems.length ? { problems } : { type: d.type, a, rels: d.relationships, inline: false };
  }
  // achPayment: to a linked counterparty (relationship) or to an inline one (attribute).
  const inline = a.counterparty !== undefined;
  const attributes = inline
    ? { ...ACH_ATTRIBUTES, counterparty: { type: 'object', required: true } }
    : { ...ACH_ATTRIBUTES, verifyCounterpartyBalance: { type: 'boolean' } };
  const problems = checkFields(a, attributes, 'data.attributes.');
  if (inline && isPlainObject(a.counterparty))
    problems.push(...checkFields(a.counterparty, INLINE_COUNTERPARTY, 'data.attributes.counterparty.'));
  problems.push(...checkRelationships(d.relationships,
    inline ? { account: ACCOUNT_TYPES } : { account: ACCOUNT_TYPES, counterparty: ['counterparty'] }));
  return problems.length ? { problems } : { type: d.type, a, rels: d.relationships, inline };
}

function keyOf(json) {
  const k = isPlainObject(json) && isPlainObject(json.data) && isPlainObject(json.data.attributes)
    ? json.data.attributes.idempotencyKey : undefined;
  return typeof k === 'string' && k.length >= 1 && k.length <= KEY_MAX ? k : null;
}

function createPayment(ctx) {
  // JSON:API: a request with any other media type (or media type parameters) gets 415.
  if ((ctx.req.headers['content-type'] || '').trim().toLowerCase() !== MEDIA_TYPE) {
    return errors(415, 'Unsupported Media Type', `Content-Type must be ${MEDIA_TYPE} without parameters.`);
  }
  if (ctx.json === INVALID_JSON || !isPlainObject(ctx.json)) {
    return errors(400, 'Bad Request', 'The body must be a JSON:API document.', { code: 'invalid_json' });
  }
  const p = { key: keyOf(ctx.json), fingerprint: fingerprint(ctx.req.method, ctx.url.pathname, ctx.json) };
  const v = validatePayment(ctx.json);
  if (v.problems) return ctx.core.refuse(p, invalid(v.problems));

  const { a, rels } = v;
  const book = v.type === 'bookPayment';
  const source = rels.account.data.id;
  const credit = book || a.direction === 'Credit';
  const destination = book ? rels.counterpartyAccount.data.id
    : v.inline ? `${a.counterparty.routingNumber}/${a.counterparty.accountNumber}` : rels.counterparty.data.id;
  return ctx.core.create({
    key: p.key, fingerprint: p.fingerprint, kind: book ? 'book' : 'ach',
    source, destination,
    amount: a.amount, minor: BigInt(a.amount), currency: 'USD', direction: credit ? 'credit' : 'debit',
    // Book payments are instant; an ACH credit leaves the account while Pending; a debit's
    // money arrives later.
    ledger: book ? 'both' : (credit ? 'debit' : 'none'),
    newId: () => ctx.core.numericId(),
    render(outcome, t) {
      if (outcome === 'missing') {
        return errors(404, 'Not Found', `Account ${source} not found.`);
      }
      const rejected = outcome !== 'ok';
      const attributes = {
        createdAt: t.now, amount: a.amount, direction: credit ? 'Credit' : 'Debit',
        description: a.description,
        status: rejected ? 'Rejected' : (book ? 'Sent' : 'Pending'),
        ...(rejected ? { reason: REJECTION_REASON[outcome] } : {}),
        ...(a.tags !== undefined ? { tags: a.tags } : {}),
      };
      if (book && a.transactionSummaryOverride !== undefined)
        attributes.transactionSummaryOverride = a.transactionSummaryOverride;
      if (!book) {
        attributes.addenda = a.addenda ?? null;
        attributes.sameDay = a.sameDay === true;
        attributes.secCode = a.secCode ?? null;
        if (v.inline) attributes.counterparty = a.counterparty;
      }
      const relationships = { account: { data: { type: 'account', id: source } } };
      if (book) relationships.counterpartyAccount = { data: { type: 'account', id: destination } };
      else if (!v.inline) relationships.counterparty = { data: { type: 'counterparty', id: destination } };
      if (!rejected) relationships.transaction = { data: { type: 'transaction', id: ctx.core.numericId() } };
      const object = { type: v.type, id: t.id, attributes, relationships };
      return { status: 201, body: { data: object }, object };
    },
  });
}

function retrieve(ctx) {
  const object = ctx.core.findObject(ctx.params[0]);
  if (object) return { status: 200, body: { data: object } };
  return errors(404, 'Not Found', `Payment ${ctx.params[0]} not found.`);
}

// GET /payments: filter[tags] is a JSON object; a payment matches when its tags contain every
// given key with the given value. page[limit] (default 100, at most 1000) and page[offset].
function list(ctx) {
  const q = ctx.url.searchParams;
  let data = ctx.core.listObjects();
  if (q.has('filter[tags]')) {
    let want;
    try {
      want = JSON.parse(q.get('filter[tags]'));
    } catch (e) {
      want = null;
    }
    if (!isPlainObject(want) || Object.values(want).some((x) => typeof x !== 'string')) {
      return invalid([{ field: 'filter.tags', message: 'must be a JSON object of strings' }]);
    }
    data = data.filter((o) => {
      const tags = o.attributes.tags || {};
      return Object.entries(want).every(([k, val]) => tags[k] === val);
    });
  }
  if (q.has('filter[accountId]')) data = data.filter((o) => o.relationships.account.data.id === q.get('filter[accountId]'));
  const limit = q.has('page[limit]') ? Number(q.get('page[limit]')) : 100;
  const offset = q.has('page[offset]') ? Number(q.get('page[offset]')) : 0;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
    return invalid([{ field: 'page.limit', message: 'must be an integer between 1 and 1000' }]);
  if (!Number.isSafeInteger(offset) || offset < 0)
    return invalid([{ field: 'page.offset', message: 'must be a non-negative integer' }]);
  return { status: 200, body: { data: data.slice(offset, offset + limit),
    meta: { pagination: { total: data.length, limit, offset } } } };
}

// ---- after creation: settlement, returns, webhooks (README.md, "Settlement and returns") ----

// Nacha return code -> Unit's return reason (https://unit.co/docs/api/ach-returns, R01-R15);
// beyond R15 the names are chosen; anything else `Other` (docs silent).
const RETURN_REASONS = {
  R01: 'InsufficientFunds', R02: 'AccountClosed', R03: 'NoAccount', R04: 'InvalidAccountNumberStructure',
  R05: 'UnauthorizedDebitToConsumer', R06: 'ReturnedPerOdfiRequest', R07: 'AuthorizationRevokedByCustomer',
  R08: 'PaymentStopped', R09: 'UncollectedFunds', R10: 'CustomerAdvisesNotAuthorized',
  R11: 'CheckTruncationEntryReturned', R12: 'BranchSoldToAnotherDfi', R13: 'RdfiNotQualifiedToParticipate',
  R14: 'RepresentativePayeeDeceasedOrUnableToContinue', R15: 'BeneficiaryOrBankAccountHolderDeceased',
  R16: 'AccountFrozen', R20: 'NonTransactionAccount', R29: 'CorporateCustomerAdvisedNotAuthorized',
};
const STATUS = { submitted: 'Clearing', settled: 'Sent', returned: 'Returned', canceled: 'Canceled' };
// No payment.canceled event is documented: a cancel sends nothing (docs silent: harsher reading).
const EVENT = { submitted: 'payment.clearing', settled: 'payment.sent', returned: 'payment.returned' };

function lifecycle(core) {
  const event = (rec, type, attributes) => {
    const id = core.numericId();
    const o = rec.object;
    return { id, type, transfer_id: rec.id, body: JSON.stringify({ data: [{ id, type,
      attributes: { createdAt: new Date().toISOString(), ...attributes },
      relationships: { payment: { data: { id: rec.id, type: 'achPayment' } },
        account: { data: { id: o.relationships.account.data.id, type: 'account' } } } }] }) };
  };
  return {
    follows: (object) => object.type === 'achPayment' && object.attributes.status === 'Pending',
    // Debits go Pending -> Clearing -> Sent; credits Pending -> Sent.
    hasSubmitted: (rec) => rec.direction === 'debit',
    apply(rec, state, info) {
      const a = rec.object.attributes;
      a.status = STATUS[state];
      if (state === 'settled') a.settlementDate = info.now.slice(0, 10);
      if (state === 'returned') a.reason = RETURN_REASONS[info.code] || 'Other';
    },
    event(rec, state, info) {
      if (!EVENT[state]) return null;
      const a = rec.object.attributes;
      return event(rec, EVENT[state], { previousStatus: STATUS[info.from] || 'Pending', status: a.status,
        ...(state === 'returned' ? { reason: a.reason } : {}) });
    },
    created: (rec) => event(rec, 'payment.created', { status: 'Pending', amount: rec.object.attributes.amount,
      direction: rec.object.attributes.direction, description: rec.object.attributes.description }),
    view: (rec) => ({ data: rec.object }),
    // X-Unit-Signature: base64 HMAC-SHA1 of the raw body with the webhook's token.
    sign: (e, secret) => (secret === null ? {} : { 'X-Unit-Signature': hmac('sha1', secret, e.body, 'base64') }),
  };
}

// POST /sandbox/ach/transmit | clear | return (sandbox), body {"data": {"type": "transmitAchPayment"
// | "clearAchPayment" | "returnAchPayment", "relationships": {"payment": {"data": {"type":
// "achPayment", "id"}}}}} -> 200 {"data": payment}. transmit: Pending -> Sent (credit) or Clearing
// (debit); clear: Clearing -> Sent; return: Sent or Clearing -> Returned, reason InsufficientFunds
// (no reason field is documented: chosen).
const SIMULATIONS = {
  transmit: { type: 'transmitAchPayment', from: ['pending'] },
  clear: { type: 'clearAchPayment', from: ['submitted'] },
  return: { type: 'returnAchPayment', from: ['submitted', 'settled'] },
};

function simulate(ctx, name) {
  const sim = SIMULATIONS[name];
  if ((ctx.req.headers['content-type'] || '').trim().toLowerCase() !== MEDIA_TYPE) {
    return errors(415, 'Unsupported Media Type', `Content-Type must be ${MEDIA_TYPE} without parameters.`);
  }
  if (ctx.json === INVALID_JSON || !isPlainObject(ctx.json)) {
    return errors(400, 'Bad Request', 'The body must be a JSON:API document.', { code: 'invalid_json' });
  }
  const top = checkFields(ctx.json, { data: { type: 'object', required: true } });
  const problems = top.length ? top : checkFields(ctx.json.data, {
    type: { type: 'string', required: true, enum: [sim.type] },
    relationships: { type: 'object', required: true },
  }, 'data.');
  if (!problems.length) problems.push(...checkRelationships(ctx.json.data.relationships, { payment: ['achPayment'] }));
  if (problems.length) return invalid(problems);
  const id = ctx.json.data.relationships.payment.data.id;
  const settlement = ctx.core.state.settlement;
  const rec = settlement.find(id);
  if (!rec) return errors(404, 'Not Found', `Payment ${id} not found.`);
  if (!sim.from.includes(rec.state)) {
    return errors(400, 'Bad Request', `Payment ${id} is ${rec.object.attributes.status}.`, { code: 'invalid_state' });
  }
  const action = name === 'return' ? 'return' : (name === 'clear' || rec.direction === 'credit' ? 'settle' : 'submit');
  settlement.act(id, action, name === 'return' ? 'R01' : null);
  return { status: 200, body: { data: rec.object } };
}

module.exports = {
  name: 'unit',
  lifecycle,
  contentType: 'application/vnd.api+json; charset=utf-8',
  behaviours: [],
  credentials: [{ flag: '--token', opt: 'token' }],

  authorized(req, opts) {
    return req.headers.authorization === `Bearer ${opts.token}`;
  },
  // The key as sent, even when it is refused as invalid (for the control API's attempts).
  attemptKey(req, json) {
    const k = isPlainObject(json) && isPlainObject(json.data) && isPlainObject(json.data.attributes)
      ? json.data.attributes.idempotencyKey : undefined;
    return typeof k === 'string' ? k : null;
  },

  unauthorized: () => errors(401, 'Unauthorized', 'Missing or invalid bearer token.'),
  tooLarge: () => errors(413, 'Payload Too Large', 'The request body is larger than 1 MiB.'),
  notFound: (method, path) => errors(404, 'Not Found', `No route ${method} ${path}.`),
  rateLimited(seconds) {
    const answer = errors(429, 'Too Many Requests', 'Rate limit exceeded.');
    if (seconds !== null) answer.headers = { 'Retry-After': String(seconds) };
    return answer;
  },
  unavailable: () => errors(503, 'Service Unavailable', 'The service is temporarily unavailable.'),
  concurrent: () => errors(409, 'Conflict', 'A request with this idempotencyKey is still being processed.',
    { code: 'idempotency_key_in_progress' }),
  // Same key, any body: the original answer, unchanged and without any sign of being a replay
  // (undocumented for a different body: the harsher reading is the silent original).
  replay: (stored) => ({ status: stored.status, body: stored.body, headers: { ...stored.headers } }),
  // Keys are "effective for 48 hours from the time they're used successfully": only created
  // payments (Sent, Pending or Rejected) are remembered.
  stores: (status) => status >= 200 && status < 300,

  routes: [
    { method: 'POST', path: /^\/payments$/, handle: createPayment },
    { method: 'GET', path: /^\/payments$/, handle: list },
    { method: 'GET', path: /^\/payments\/([^/]+)$/, handle: retrieve },
    { method: 'POST', path: /^\/sandbox\/ach\/transmit$/, handle: (ctx) => simulate(ctx, 'transmit') },
    { method: 'POST', path: /^\/sandbox\/ach\/clear$/, handle: (ctx) => simulate(ctx, 'clear') },
    { method: 'POST', path: /^\/sandbox\/ach\/return$/, handle: (ctx) => simulate(ctx, 'return') },
  ],
};
