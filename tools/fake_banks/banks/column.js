'use strict';
// Column (https://column.com/docs/workingwithapi): HTTP Basic with a blank user name and the API
// key as password, errors {type, code, message, documentation_url, details}, status 400 for
// validation and for an insufficient balance, the Idempotency-Key header (at most 255
// characters, case-sensitive) for which only SUCCESSFUL results are saved and returned.
// Sources and every "docs silent" choice: README.md, section Column.

const { checkFields, isPlainObject, exactlyOne, checkDate } = require('../lib/validate');
const { INVALID_JSON, header, isJsonContentType, basicCredentials, fingerprint } = require('../lib/core');
const { hmac } = require('../lib/webhooks');
const { describeReturn } = require('../lib/settlement');

const KEY_HEADER = 'idempotency-key';
const KEY_MAX = 255;
const DOCS = {
  errors: 'https://column.com/docs/workingwithapi/errors',
  idempotency: 'https://column.com/docs/workingwithapi/idempotency',
  book: 'https://docs.column.com/api/book-transfer/create-a-book-transfer/',
  ach: 'https://docs.column.com/api/ach-transfer/create-an-ach-transfer/',
  bankAccount: 'https://column.com/docs/api/#bank-account/create',
};

function error(status, type, code, message, details, documentationUrl = DOCS.errors) {
  return { status, body: { type, code, message, documentation_url: documentationUrl, details: details ?? null } };
}

function invalidFields(problems, docs) {
  return error(400, 'invalid_request_error', 'invalid_field',
    problems.map((p) => `${p.field} ${p.message}`).join('; '),
    Object.fromEntries(problems.map((p) => [p.field, p.message])), docs);
}

// Column's docs give 400 for an insufficient balance and the bank_account_not_found example;
// the codes for insufficient funds, closed and frozen accounts are not published (docs silent).
function refusal(outcome, accountId) {
  switch (outcome) {
    case 'insufficient':
      return error(400, 'transfer_error', 'insufficient_funds',
        'The sending account has an insufficient available balance.', {});
    case 'closed':
      return error(400, 'bank_account_error', 'bank_account_closed', 'The bank account is closed.', {},
        DOCS.bankAccount);
    case 'frozen':
      return error(400, 'bank_account_error', 'bank_account_closed',
        'The bank account is frozen and cannot send transfers.', {}, DOCS.bankAccount);
    case 'missing':
      return error(404, 'bank_account_error', 'bank_account_not_found',
        `Bank account ${accountId} does not exist on this platform.`, null, DOCS.bankAccount);
    default:
      throw new Error(`unexpected outcome ${outcome}`);
  }
}

function prepare(ctx, docs) {
  const key = header(ctx.req, KEY_HEADER);
  if (key !== null && (key.length === 0 || key.length > KEY_MAX)) {
    return { answer: error(400, 'invalid_request_error', 'invalid_idempotency_key',
      `Idempotency-Key must be between 1 and ${KEY_MAX} characters.`, {}, DOCS.idempotency) };
  }
  if (!isJsonContentType(ctx.req)) {
    return { answer: error(400, 'invalid_request_error', 'invalid_content_type',
      'Content-Type must be application/json.', {}, docs) };
  }
  if (ctx.json === INVALID_JSON || !isPlainObject(ctx.json)) {
    return { answer: error(400, 'invalid_request_error', 'malformed_request',
      'The request body must be a JSON object.', {}, docs) };
  }
  return { key, json: ctx.json, fingerprint: fingerprint(ctx.req.method, ctx.url.pathname, ctx.json) };
}

const CURRENCY = { type: 'string', required: true, pattern: /^[A-Z]{3}$/,
  patternText: 'must be 3 upper-case letters',
  // Column accounts hold US dollars only ("For all amounts this will be USD").
  check: (v) => (v === 'USD' ? null : 'is not supported (only USD)') };

const BOOK_FIELDS = {
  amount: { type: 'integer', required: true, min: 1 },
  currency_code: CURRENCY,
  sender_bank_account_id: { type: 'string', minLength: 1 },
  sender_account_number_id: { type: 'string', minLength: 1 },
  receiver_bank_account_id: { type: 'string', minLength: 1 },
  receiver_account_number_id: { type: 'string', minLength: 1 },
  description: { type: 'string', maxLength: 255 },
  allow_overdraft: { type: 'boolean' },
  hold: { type: 'boolean' },
  details: { type: 'object' },
};

function createBook(ctx) {
  const p = prepare(ctx, DOCS.book);
  if (p.answer) return p.answer;
  const b = p.json;
  const problems = checkFields(b, BOOK_FIELDS);
  for (const [x, y] of [['sender_bank_account_id', 'sender_account_number_id'],
    ['receiver_bank_account_id', 'receiver_account_number_id']]) {
    const pr = exactlyOne(b, x, y);
    if (pr) problems.push(pr);
  }
  if (problems.length) return ctx.core.refuse(p, invalidFields(problems, DOCS.book));
  const source = b.sender_bank_account_id ?? b.sender_account_number_id;
  const hold = b.hold === true;
  return ctx.core.create({
    key: p.key, fingerprint: p.fingerprint, kind: 'book',
    source, destination: b.receiver_bank_account_id ?? b.receiver_account_number_id,
    amount: b.amount, minor: BigInt(b.amount), currency: b.currency_code, direction: 'credit',
    // A held transfer leaves the sender now and reaches the receiver only when cleared.
    ledger: hold ? 'debit' : 'both', allowOverdraft: b.allow_overdraft === true,
    newId: () => ctx.core.randomId('book_', 27),
    render(outcome, t) {
      if (outcome !== 'ok') return refusal(outcome, source);
      const object = {
        id: t.id, idempotency_key: p.key,
        status: hold ? 'HOLD' : 'COMPLETED',
        amount: b.amount, currency_code: b.currency_code,
        sender_bank_account_id: b.sender_bank_account_id ?? null,
        sender_account_number_id: b.sender_account_number_id ?? null,
        receiver_bank_account_id: b.receiver_bank_account_id ?? null,
        receiver_account_number_id: b.receiver_account_number_id ?? null,
        description: b.description ?? '',
        allow_overdraft: b.allow_overdraft === true,
        details: b.details ?? null,
        created_at: t.now, updated_at: t.now, completed_at: hold ? null : t.now,
      };
      return { status: 200, body: object, object };
    },
  });
}

const ACH_FIELDS = {
  amount: { type: 'integer', required: true, min: 1 },
  currency_code: CURRENCY,
  type: { type: 'string', required: true, enum: ['CREDIT', 'DEBIT'] },
  entry_class_code: { type: 'string', required: true, enum: ['PPD', 'CCD', 'WEB', 'CTX', 'TEL'] },
  bank_account_id: { type: 'string', minLength: 1 },
  account_number_id: { type: 'string', minLength: 1 },
  counterparty_id: { type: 'string', minLength: 1 },
  counterparty: { type: 'object', check: checkInlineCounterparty },
  description: { type: 'string', maxLength: 255 },
  company_entry_description: { type: 'string', maxLength: 10 },
  same_day: { type: 'boolean' },
  effective_date: { type: 'string', check: checkDate },
  allow_overdraft: { type: 'boolean' },
};

// An inline counterparty needs at least where the money goes.
function checkInlineCounterparty(v) {
  if (typeof v.routing_number !== 'string' || !/^\d{9}$/.test(v.routing_number))
    return 'routing_number must be 9 digits';
  if (typeof v.account_number !== 'string' || v.account_number.length === 0)
    return 'account_number is required';
  return null;
}

function createAch(ctx) {
  const p = prepare(ctx, DOCS.ach);
  if (p.answer) return p.answer;
  const b = p.json;
  const problems = checkFields(b, ACH_FIELDS);
  for (const [x, y] of [['bank_account_id', 'account_number_id'], ['counterparty_id', 'counterparty']]) {
    const pr = exactlyOne(b, x, y);
    if (pr) problems.push(pr);
  }
  if (b.same_day === true && b.effective_date !== undefined)
    problems.push({ field: 'effective_date', message: 'cannot be combined with same_day' });
  if (problems.length) return ctx.core.refuse(p, invalidFields(problems, DOCS.ach));
  const source = b.bank_account_id ?? b.account_number_id;
  const credit = b.type === 'CREDIT';
  const destination = b.counterparty_id ??
    `${b.counterparty.routing_number}/${b.counterparty.account_number}`;
  return ctx.core.create({
    key: p.key, fingerprint: p.fingerprint, kind: 'ach',
    source, destination,
    amount: b.amount, minor: BigInt(b.amount), currency: b.currency_code,
    direction: credit ? 'credit' : 'debit',
    // An outgoing credit debits the account when it is initiated; a debit's money comes later.
    ledger: credit ? 'debit' : 'none', allowOverdraft: b.allow_overdraft === true,
    newId: () => ctx.core.randomId('acht_', 27),
    render(outcome, t) {
      if (outcome !== 'ok') return refusal(outcome, source);
      const object = {
        id: t.id, idempotency_key: p.key, status: 'INITIATED', type: b.type,
        amount: b.amount, currency_code: b.currency_code,
        bank_account_id: b.bank_account_id ?? null,
        account_number_id: b.account_number_id ?? null,
        counterparty_id: b.counterparty_id ?? null,
        entry_class_code: b.entry_class_code,
        description: b.description ?? '',
        company_entry_description: b.company_entry_description ?? '',
        same_day: b.same_day === true,
        effective_date: b.effective_date ?? null,
        allow_overdraft: b.allow_overdraft === true,
        created_at: t.now, updated_at: t.now,
        initiated_at: t.now, submitted_at: null, settled_at: null, completed_at: null,
        returned_at: null, return_details: [],
      };
      return { status: 200, body: object, object };
    },
  });
}

function retrieve(ctx, kind) {
  const object = ctx.core.findObject(ctx.params[0], kind);
  if (object) return { status: 200, body: object };
  return error(404, 'invalid_request_error', 'not_found',
    `${kind === 'book' ? 'Book transfer' : 'ACH transfer'} ${ctx.params[0]} does not exist.`, null,
    kind === 'book' ? DOCS.book : DOCS.ach);
}

// ---- after creation: settlement, returns, webhooks (README.md, "Settlement and returns") ----

const STATUS = { submitted: 'SUBMITTED', settled: 'SETTLED', returned: 'RETURNED', canceled: 'CANCELED' };
const STAMP = { submitted: 'submitted_at', settled: 'settled_at', returned: 'returned_at', canceled: 'canceled_at' };

// Sandbox counterparties whose transfers the settle simulation returns instead (third-party code,
// not on Column's page: BANKS.md part 2 [CA11]).
const RETURNING_COUNTERPARTIES = { RETURN_NSF: 'R01', RETURN_ACCOUNT_CLOSED: 'R02', RETURN_STOP_PAYMENT: 'R08',
  RETURN_UNAUTH: 'R10' };

function lifecycle(core) {
  // One webhook endpoint per process, named in every delivery's Webhook-Endpoint-Id.
  if (!core.columnEndpointId) core.columnEndpointId = core.randomId('wend_', 27);
  return {
    follows: (object) => object.status === 'INITIATED',
    hasSubmitted: () => true,
    apply(rec, state, info) {
      const o = rec.object;
      o.status = STATUS[state];
      o[STAMP[state]] = info.now;
      o.updated_at = info.now;
      if (state === 'returned') {
        o.return_details = [{ return_code: info.code, description: describeReturn(info.code) }];
      }
    },
    // The full object in every event; none for the state the creating request made (INITIATED).
    event(rec, state, info) {
      const id = core.randomId('evnt_', 27);
      const type = `ach.outgoing_transfer.${state}`;
      return { id, type, transfer_id: rec.id,
        body: JSON.stringify({ id, created_at: info.now, type, data: structuredClone(rec.object) }) };
    },
    view: (rec) => rec.object,
    // Column-Signature: hex HMAC-SHA256 of the raw body with the endpoint's secret.
    sign: (e, secret) => ({ ...(secret === null ? {} : { 'Column-Signature': hmac('sha256', secret, e.body, 'hex') }),
      'Webhook-Endpoint-Id': core.columnEndpointId }),
  };
}

// POST /simulate/transfers/ach/settle {"ach_transfer_id"} (sandbox): settles an INITIATED or
// SUBMITTED transfer (a RETURN_* counterparty's is returned instead). Answers {} (docs silent).
function simulateSettle(ctx) {
  const p = prepare(ctx, DOCS.ach);
  if (p.answer) return p.answer;
  const problems = checkFields(p.json, { ach_transfer_id: { type: 'string', required: true, minLength: 1 } });
  if (problems.length) return invalidFields(problems, DOCS.ach);
  const settlement = ctx.core.state.settlement;
  const rec = settlement.find(p.json.ach_transfer_id);
  if (!rec) {
    return error(404, 'invalid_request_error', 'not_found', `ACH transfer ${p.json.ach_transfer_id} does not exist.`,
      null, DOCS.ach);
  }
  const code = RETURNING_COUNTERPARTIES[rec.object.counterparty_id] || null;
  const r = settlement.act(rec.id, code ? 'return' : 'settle', code);
  if (r.error) {
    return error(400, 'invalid_request_error', 'invalid_transfer_state',
      `ACH transfer ${rec.id} is ${rec.object.status} and cannot be settled.`, {}, DOCS.ach);
  }
  return { status: 200, body: {} };
}

module.exports = {
  name: 'column',
  lifecycle,
  contentType: 'application/json',
  behaviours: [],
  credentials: [{ flag: '--api-key', opt: 'apiKey' }],

  // `curl -u :KEY`: blank user name, the key as password.
  authorized(req, opts) {
    return basicCredentials(req) === `:${opts.apiKey}`;
  },
  attemptKey(req) {
    return header(req, KEY_HEADER);
  },

  unauthorized: () => error(401, 'authentication_error', 'unauthorized',
    'No valid API key provided. Use HTTP Basic auth with a blank user name and the API key as password.', {}),
  tooLarge: () => error(413, 'invalid_request_error', 'request_too_large', 'The request body is larger than 1 MiB.', {}),
  notFound: (method, path) => error(404, 'invalid_request_error', 'not_found', `No route ${method} ${path}.`, null),
  rateLimited(seconds) {
    const answer = error(429, 'rate_limit_error', 'too_many_requests',
      'Too many requests hit the API too quickly.', {});
    if (seconds !== null) answer.headers = { 'Retry-After': String(seconds) };
    return answer;
  },
  unavailable: () => error(503, 'api_error', 'service_unavailable',
    'Something went wrong in Column\'s systems.', {}),
  concurrent: () => error(409, 'invalid_request_error', 'idempotency_key_in_use',
    'A request with this Idempotency-Key is still being processed.', {}, DOCS.idempotency),
  replay(stored, sameRequest) {
    if (sameRequest) return { status: stored.status, body: stored.body, headers: { ...stored.headers } };
    return error(400, 'invalid_request_error', 'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request.', {}, DOCS.idempotency);
  },
  // "Results of successful requests will be saved": a refused request is evaluated again.
  stores: (status) => status >= 200 && status < 300,

  routes: [
    { method: 'POST', path: /^\/transfers\/book$/, handle: createBook },
    { method: 'POST', path: /^\/transfers\/ach$/, handle: createAch },
    { method: 'GET', path: /^\/transfers\/book\/([^/]+)$/, handle: (ctx) => retrieve(ctx, 'book') },
    { method: 'GET', path: /^\/transfers\/ach\/([^/]+)$/, handle: (ctx) => retrieve(ctx, 'ach') },
    { method: 'POST', path: /^\/simulate\/transfers\/ach\/settle$/, handle: simulateSettle },
  ],
};
