'use strict';
// Increase (https://increase.com/documentation/api/overview): bearer token, JSON bodies,
// RFC 9457 error objects {type, status, title, detail}, the Idempotency-Key header (at most 200
// characters) with `Idempotent-Replayed: true` on a replay and 409
// idempotency_key_already_used_error when a key is reused for something else.
// Sources and every "docs silent" choice: README.md, section Increase.

const { checkFields, isPlainObject, checkDate } = require('../lib/validate');
const { INVALID_JSON, header, isJsonContentType, fingerprint } = require('../lib/core');
const { standardHeaders } = require('../lib/webhooks');

const KEY_HEADER = 'idempotency-key';
const KEY_MAX = 200;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'; // ids look like account_transfer_uoxatyh3lt5evrsdvo7q

function problem(status, type, title, detail, extra) {
  return { status, body: { type, status, title, detail, ...(extra || {}) } };
}

function invalidParameters(problems) {
  return problem(400, 'invalid_parameters_error', 'Invalid parameters.',
    problems.map((p) => `${p.field} ${p.message}`).join('; '),
    { errors: problems.map((p) => ({ field: p.field, message: p.message })) });
}

const INVALID_OPERATION = "The action you specified can't be performed on the object in its current state.";

// Why an account refused a transfer. Increase documents only the insufficient-balance wording;
// closed and frozen use the same type with their own detail (docs silent).
function refusal(outcome, accountId) {
  switch (outcome) {
    case 'insufficient':
      return problem(409, 'invalid_operation_error', INVALID_OPERATION, "There's an insufficient balance in the account.");
    case 'closed':
      return problem(409, 'invalid_operation_error', INVALID_OPERATION, 'The account is closed.');
    case 'frozen':
      return problem(409, 'invalid_operation_error', INVALID_OPERATION, 'The account is frozen.');
    case 'missing':
      return problem(404, 'object_not_found_error', 'No object exists with the specified identifier.',
        `No Account with the ID ${accountId} exists.`);
    default:
      throw new Error(`unexpected outcome ${outcome}`);
  }
}

// Content type, idempotency key and JSON shared by both POST routes. Returns {answer} when the
// request is refused before its fields are looked at, else {key, json, fingerprint}.
function prepare(ctx) {
  const key = header(ctx.req, KEY_HEADER);
  if (key !== null && (key.length === 0 || key.length > KEY_MAX)) {
    return { answer: invalidParameters([{ field: 'Idempotency-Key',
      message: `must be between 1 and ${KEY_MAX} characters` }]) };
  }
  if (!isJsonContentType(ctx.req)) {
    return { answer: problem(400, 'malformed_request_error', 'The request could not be parsed.',
      'POST requests must have Content-Type: application/json.') };
  }
  if (ctx.json === INVALID_JSON || !isPlainObject(ctx.json)) {
    const fp = `${ctx.req.method} ${ctx.url.pathname} raw`;
    return { answer: problem(400, 'malformed_request_error', 'The request could not be parsed.',
      'The body must be a JSON object.'), key, fingerprint: fp, refuse: true };
  }
  return { key, json: ctx.json, fingerprint: fingerprint(ctx.req.method, ctx.url.pathname, ctx.json) };
}

const ACCOUNT_TRANSFER_FIELDS = {
  account_id: { type: 'string', required: true, minLength: 1 },
  amount: { type: 'integer', required: true, min: 1 },
  description: { type: 'string', required: true, minLength: 1, maxLength: 200 },
  destination_account_id: { type: 'string', required: true, minLength: 1 },
  require_approval: { type: 'boolean' },
};

function createAccountTransfer(ctx) {
  const p = prepare(ctx);
  if (p.answer) return p.refuse ? ctx.core.refuse(p, p.answer) : p.answer;
  const b = p.json;
  const problems = checkFields(b, ACCOUNT_TRANSFER_FIELDS);
  if (problems.length) return ctx.core.refuse(p, invalidParameters(problems));
  const pendingApproval = b.require_approval === true;
  return ctx.core.create({
    key: p.key, fingerprint: p.fingerprint, kind: 'book',
    source: b.account_id, destination: b.destination_account_id,
    amount: b.amount, minor: BigInt(b.amount), currency: 'USD', direction: 'credit',
    ledger: 'both', executes: !pendingApproval,
    newId: () => ctx.core.randomId('account_transfer_', 20, ID_ALPHABET),
    render(outcome, t) {
      if (outcome !== 'ok') return refusal(outcome, b.account_id);
      const object = {
        type: 'account_transfer', id: t.id,
        status: pendingApproval ? 'pending_approval' : 'complete',
        amount: b.amount, currency: 'USD',
        account_id: b.account_id, destination_account_id: b.destination_account_id,
        description: b.description, network: 'account',
        idempotency_key: p.key,
        transaction_id: pendingApproval ? null : ctx.core.randomId('transaction_', 20, ID_ALPHABET),
        destination_transaction_id: pendingApproval ? null : ctx.core.randomId('transaction_', 20, ID_ALPHABET),
        pending_transaction_id: null, approval: null, cancellation: null,
        created_at: t.now,
      };
      return { status: 200, body: object, object };
    },
  });
}

const SEC_CODES = ['corporate_credit_or_debit', 'corporate_trade_exchange',
  'prearranged_payments_and_deposit', 'internet_initiated'];

function checkEffectiveDate(v) {
  const keys = Object.keys(v);
  if (keys.length !== 1 || !['date', 'settlement_schedule'].includes(keys[0]))
    return 'must have exactly one of date, settlement_schedule';
  if (keys[0] === 'date') {
    const m = typeof v.date === 'string' ? checkDate(v.date) : 'must be a string';
    return m && `date ${m}`;
  }
  return ['same_day', 'future_dated'].includes(v.settlement_schedule) ? null
    : 'settlement_schedule must be one of same_day, future_dated';
}

// Field widths of the Nacha batch header and entry detail record bound the free-text fields
// that Increase passes to the receiving bank (Increase's docs give no limits: docs silent).
const ACH_TRANSFER_FIELDS = {
  account_id: { type: 'string', required: true, minLength: 1 },
  amount: { type: 'integer', required: true, check: (v) => (v === 0 ? 'must not be zero' : null) },
  statement_descriptor: { type: 'string', required: true, minLength: 1, maxLength: 10 },
  account_number: { type: 'string', minLength: 1, maxLength: 17 },
  routing_number: { type: 'string', pattern: /^\d{9}$/, patternText: 'must be 9 digits' },
  funding: { type: 'string', enum: ['checking', 'savings', 'loan', 'general_ledger'] },
  external_account_id: { type: 'string', minLength: 1 },
  addenda: { type: 'object' },
  company_descriptive_date: { type: 'string', maxLength: 6 },
  company_discretionary_data: { type: 'string', maxLength: 20 },
  company_entry_description: { type: 'string', maxLength: 10 },
  company_name: { type: 'string', maxLength: 16 },
  destination_account_holder: { type: 'string', enum: ['business', 'individual', 'unknown'] },
  individual_id: { type: 'string', maxLength: 15 },
  individual_name: { type: 'string', maxLength: 22 },
  preferred_effective_date: { type: 'object', check: checkEffectiveDate },
  require_approval: { type: 'boolean' },
  standard_entry_class_code: { type: 'string', enum: SEC_CODES },
};

// external_account_id, or account_number + routing_number (+ funding), never both.
function destinationProblems(b) {
  if (b.external_account_id !== undefined) {
    const extra = ['account_number', 'routing_number', 'funding'].filter((f) => b[f] !== undefined);
    return extra.map((f) => ({ field: f, message: 'must be absent when external_account_id is given' }));
  }
  const missing = ['account_number', 'routing_number'].filter((f) => b[f] === undefined);
  return missing.map((f) => ({ field: f, message: 'is required unless external_account_id is given' }));
}

function createAchTransfer(ctx) {
  const p = prepare(ctx);
  if (p.answer) return p.refuse ? ctx.core.refuse(p, p.answer) : p.answer;
  const b = p.json;
  const problems = checkFields(b, ACH_TRANSFER_FIELDS);
  if (!problems.length) problems.push(...destinationProblems(b));
  if (problems.length) return ctx.core.refuse(p, invalidParameters(problems));
  const pendingApproval = b.require_approval === true;
  const credit = b.amount > 0; // a negative amount pulls money: an ACH debit
  const destination = b.external_account_id ?? `${b.routing_number}/${b.account_number}`;
  return ctx.core.create({
    key: p.key, fingerprint: p.fingerprint, kind: 'ach',
    source: b.account_id, destination,
    amount: b.amount, minor: BigInt(Math.abs(b.amount)), currency: 'USD',
    direction: credit ? 'credit' : 'debit',
    // A credit leaves the account when it is created; a debit's money arrives at settlement.
    ledger: credit ? 'debit' : 'none', executes: !pendingApproval,
    newId: () => ctx.core.randomId('ach_transfer_', 20, ID_ALPHABET),
    render(outcome, t) {
      if (outcome !== 'ok') return refusal(outcome, b.account_id);
      const object = {
        type: 'ach_transfer', id: t.id,
        status: pendingApproval ? 'pending_approval' : 'pending_submission',
        amount: b.amount, currency: 'USD', network: 'ach',
        account_id: b.account_id,
        external_account_id: b.external_account_id ?? null,
        account_number: b.account_number ?? null,
        routing_number: b.routing_number ?? null,
        funding: b.funding ?? 'checking',
        statement_descriptor: b.statement_descriptor,
        company_name: b.company_name ?? null,
        company_entry_description: b.company_entry_description ?? null,
        company_descriptive_date: b.company_descriptive_date ?? null,
        company_discretionary_data: b.company_discretionary_data ?? null,
        individual_id: b.individual_id ?? null,
        individual_name: b.individual_name ?? null,
        destination_account_holder: b.destination_account_holder ?? 'unknown',
        standard_entry_class_code: b.standard_entry_class_code ?? 'corporate_credit_or_debit',
        preferred_effective_date: {
          date: b.preferred_effective_date?.date ?? null,
          settlement_schedule: b.preferred_effective_date?.date ? null
            : (b.preferred_effective_date?.settlement_schedule ?? 'same_day'),
        },
        addenda: b.addenda ?? null,
        idempotency_key: p.key,
        transaction_id: pendingApproval || !credit ? null : ctx.core.randomId('transaction_', 20, ID_ALPHABET),
        pending_transaction_id: null,
        approval: null, cancellation: null, return: null, settlement: null, submission: null,
        acknowledgement: null, notifications_of_change: [],
        created_at: t.now,
      };
      return { status: 200, body: object, object };
    },
  });
}

function retrieve(ctx, kind) {
  const object = ctx.core.findObject(ctx.params[0], kind);
  if (object) return { status: 200, body: object };
  return problem(404, 'object_not_found_error', 'No object exists with the specified identifier.',
    `No ${kind === 'book' ? 'Account Transfer' : 'ACH Transfer'} with the ID ${ctx.params[0]} exists.`);
}

// GET /account_transfers, GET /ach_transfers: newest first, at most `limit` (default and maximum
// 100). `idempotency_key=` narrows the list to [] or the one object created with that key.
function list(ctx, kind) {
  const q = ctx.url.searchParams;
  let limit = 100;
  if (q.has('limit')) {
    limit = Number(q.get('limit'));
    if (!/^\d+$/.test(q.get('limit')) || limit < 1 || limit > 100)
      return invalidParameters([{ field: 'limit', message: 'must be an integer between 1 and 100' }]);
  }
  let data = ctx.core.listObjects(kind).slice().reverse();
  if (q.has('idempotency_key')) data = data.filter((o) => o.idempotency_key === q.get('idempotency_key'));
  if (q.has('account_id')) data = data.filter((o) => o.account_id === q.get('account_id'));
  return { status: 200, body: { data: data.slice(0, limit), next_cursor: null } };
}

// ---- after creation: settlement, returns, webhooks (README.md, "Settlement and returns") ----

// Nacha return code -> Increase's return_reason_code (increase-python ACHTransfer.return_).
const RETURN_REASONS = {
  R01: 'insufficient_fund', R02: 'account_closed', R03: 'no_account', R04: 'invalid_account_number_structure',
  R05: 'unauthorized_debit_to_consumer_account_using_corporate_sec_code', R06: 'returned_per_odfi_request',
  R07: 'authorization_revoked_by_customer', R08: 'payment_stopped', R09: 'uncollected_funds',
  R10: 'customer_advised_unauthorized_improper_ineligible_or_incomplete',
  R11: 'customer_advised_not_within_authorization_terms', R12: 'account_sold_to_another_dfi',
  R13: 'invalid_ach_routing_number', R15: 'beneficiary_or_account_holder_deceased',
  R16: 'account_frozen_entry_returned_per_ofac_instruction', R17: 'file_record_edit_criteria',
  R19: 'amount_field_error', R20: 'non_transaction_account', R23: 'credit_entry_refused_by_receiver',
  R24: 'duplicate_entry', R28: 'routing_number_check_digit_error', R29: 'corporate_customer_advised_not_authorized',
  R34: 'limited_participation_dfi', R85: 'incorrectly_coded_outbound_international_payment',
};
const RETURN_CODES = Object.fromEntries(Object.entries(RETURN_REASONS).map(([code, reason]) => [reason, code]));

// The second banking day after `iso` (UTC): when administrative returns are expected by.
function bankingDaysAfter(iso, n) {
  const d = new Date(iso);
  for (let left = n; left > 0;) {
    d.setUTCDate(d.getUTCDate() + 1);
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) left--;
  }
  return d.toISOString();
}

function lifecycle(core) {
  const eventId = () => core.randomId('event_', 20, ID_ALPHABET);
  const thinEvent = (rec, category, now) => {
    const id = eventId();
    return { id, type: category, transfer_id: rec.id, body: JSON.stringify({ id, created_at: now, category,
      associated_object_type: 'ach_transfer', associated_object_id: rec.id, type: 'event' }) };
  };
  return {
    follows: (object) => object.status === 'pending_submission',
    hasSubmitted: () => true,
    apply(rec, state, info) {
      const o = rec.object;
      switch (state) {
        case 'submitted':
          o.status = 'submitted';
          o.submission = { submitted_at: info.now, trace_number: String(core.numericId()).padStart(15, '0'),
            effective_date: info.now.slice(0, 10), expected_funds_settlement_at: bankingDaysAfter(info.now, 1),
            administrative_returns_expected_by: bankingDaysAfter(info.now, 2),
            expected_settlement_schedule: o.preferred_effective_date.settlement_schedule ?? 'future_dated' };
          break;
        case 'settled': // the status stays `submitted`; settlement is filled
          o.settlement = { settled_at: info.now };
          break;
        case 'returned':
          o.status = 'returned';
          o.return = { created_at: info.now, raw_return_reason_code: info.code,
            return_reason_code: RETURN_REASONS[info.code] || 'other',
            trace_number: o.submission ? o.submission.trace_number : null,
            transaction_id: core.randomId('transaction_', 20, ID_ALPHABET), transfer_id: rec.id };
          break;
        case 'canceled':
          o.status = 'canceled';
          o.cancellation = { canceled_at: info.now, canceled_by: null };
          break;
        default: break;
      }
    },
    // No "returned" category: every change is ach_transfer.updated.
    event: (rec, state, info) => thinEvent(rec, 'ach_transfer.updated', info.now),
    created: (rec) => thinEvent(rec, 'ach_transfer.created', rec.object.created_at),
    view: (rec) => rec.object,
    // Standard Webhooks, the key being the UTF-8 bytes of the shared secret as configured.
    sign: (e, secret, ts) => (secret === null ? { 'webhook-id': e.event_id, 'webhook-timestamp': String(ts) }
      : standardHeaders(Buffer.from(secret, 'utf8'), e.event_id, ts, e.body)),
  };
}

const SIMULATION_FIELDS = {
  submit: {},
  settle: { inbound_funds_hold_behavior: { type: 'string', enum: ['release_immediately', 'release_after_3_days'] } },
  return: { reason: { type: 'string', enum: Object.keys(RETURN_CODES) } },
};

// POST /simulations/ach_transfers/{id}/submit|settle|return (sandbox): 200 with the transfer.
// submit needs pending_submission; settle submits first when needed; return needs `submitted`.
function simulate(ctx, action) {
  if (ctx.json !== undefined) {
    if (!isJsonContentType(ctx.req) || ctx.json === INVALID_JSON || !isPlainObject(ctx.json)) {
      return problem(400, 'malformed_request_error', 'The request could not be parsed.',
        'The body must be a JSON object sent with Content-Type: application/json.');
    }
    const problems = checkFields(ctx.json, SIMULATION_FIELDS[action]);
    if (problems.length) return invalidParameters(problems);
  }
  const settlement = ctx.core.state.settlement;
  const rec = settlement.find(ctx.params[0]);
  if (!rec) {
    return problem(404, 'object_not_found_error', 'No object exists with the specified identifier.',
      `No ACH Transfer with the ID ${ctx.params[0]} exists.`);
  }
  const allowed = { submit: ['pending'], settle: ['pending', 'submitted'], return: ['submitted', 'settled'] }[action];
  if (!allowed.includes(rec.state)) {
    return problem(409, 'invalid_operation_error', INVALID_OPERATION,
      `The ACH Transfer is ${rec.object.status}${rec.state === 'settled' ? ' and settled' : ''}.`);
  }
  const code = action === 'return' ? RETURN_CODES[(ctx.json && ctx.json.reason) || 'no_account'] : null;
  settlement.act(rec.id, action, code);
  return { status: 200, body: rec.object };
}

module.exports = {
  name: 'increase',
  lifecycle,
  contentType: 'application/json',
  behaviours: [],
  credentials: [{ flag: '--token', opt: 'token' }],

  authorized(req, opts) {
    return req.headers.authorization === `Bearer ${opts.token}`;
  },
  attemptKey(req) {
    return header(req, KEY_HEADER);
  },

  unauthorized: () => problem(401, 'invalid_api_key_error', 'The API key is missing, invalid, or revoked.',
    'Send Authorization: Bearer <API key>.'),
  tooLarge: () => problem(413, 'malformed_request_error', 'The request could not be parsed.',
    'The request body is larger than 1 MiB.'),
  notFound: (method, path) => problem(404, 'api_method_not_found_error', 'No API method exists at this path.',
    `No API method for ${method} ${path}.`),
  rateLimited(seconds) {
    const answer = problem(429, 'rate_limited_error', 'You have exceeded the rate limit.', null,
      { retry_after: seconds });
    if (seconds !== null) answer.headers = { 'Retry-After': String(seconds) };
    return answer;
  },
  // The switched outage (/_control/outage) is a 503 from in front of the API: Increase documents
  // only 500 internal_server_error, so its type is kept (docs silent).
  unavailable: (kind) => (kind === 'outage'
    ? problem(503, 'internal_server_error', 'The service is temporarily unavailable.', null)
    : problem(500, 'internal_server_error', 'An internal server error occurred.', null)),
  // Two requests with one key at once: undocumented; the harsher reading is a conflict, with the
  // same type as a reused key (the client cannot tell which one won).
  concurrent: (key, stored) => problem(409, 'idempotency_key_already_used_error',
    'The idempotency key has already been used.',
    'A request with this Idempotency-Key is still being processed.',
    { resource_id: stored ? stored.resourceId : null }),
  replay(stored, sameRequest) {
    if (sameRequest) {
      return { status: stored.status, body: stored.body,
        headers: { ...stored.headers, 'Idempotent-Replayed': 'true' } };
    }
    return problem(409, 'idempotency_key_already_used_error', 'The idempotency key has already been used.',
      'The Idempotency-Key was previously used with a different request.',
      { resource_id: stored.resourceId });
  },
  // Final answers are remembered: successes and refusals (4xx); 429 and 5xx never executed.
  stores: (status) => status < 500 && status !== 429,

  routes: [
    { method: 'POST', path: /^\/account_transfers$/, handle: createAccountTransfer },
    { method: 'POST', path: /^\/ach_transfers$/, handle: createAchTransfer },
    { method: 'GET', path: /^\/account_transfers$/, handle: (ctx) => list(ctx, 'book') },
    { method: 'GET', path: /^\/ach_transfers$/, handle: (ctx) => list(ctx, 'ach') },
    { method: 'GET', path: /^\/account_transfers\/([^/]+)$/, handle: (ctx) => retrieve(ctx, 'book') },
    { method: 'GET', path: /^\/ach_transfers\/([^/]+)$/, handle: (ctx) => retrieve(ctx, 'ach') },
    { method: 'POST', path: /^\/simulations\/ach_transfers\/([^/]+)\/submit$/, handle: (ctx) => simulate(ctx, 'submit') },
    { method: 'POST', path: /^\/simulations\/ach_transfers\/([^/]+)\/settle$/, handle: (ctx) => simulate(ctx, 'settle') },
    { method: 'POST', path: /^\/simulations\/ach_transfers\/([^/]+)\/return$/, handle: (ctx) => simulate(ctx, 'return') },
  ],
};
