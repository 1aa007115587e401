'use strict';
// The life of an ACH transfer after its creation, shared by tools/fake_banks and tools/fake_baas
// (README.md, "Settlement and returns"). Generic states:
//
//   pending -> (submitted) -> settled -> returned        returned also straight from pending or
//   pending -> canceled                                  submitted (a return before settlement)
//
// `submitted` exists only where the bank shows such a state (adapter.hasSubmitted). A bank module
// supplies an adapter that spells each state the bank's way on the stored object and builds the
// bank's webhook event for each change:
//   hasSubmitted(rec)                 whether the bank shows a state between pending and settled
//   apply(rec, state, info)           mutates rec.object (the object the bank's GET answers)
//   event(rec, state, info)           -> {id, type, body} or null (no webhook for this change)
//   view(rec)                         -> the body the bank's GET answers for it
// info = {now (ISO string), code ("R01") for returns, from (the previous state)}.
// A record: {id, object, direction ('credit'|'debit'), source, minor (BigInt), state}.

const NACHA = /^R\d\d$/;

// Short Nacha descriptions of the common return codes (for banks that carry one).
const DESCRIPTIONS = {
  R01: 'Insufficient Funds', R02: 'Account Closed', R03: 'No Account/Unable to Locate Account',
  R04: 'Invalid Account Number Structure', R05: 'Unauthorized Debit to Consumer Account Using Corporate SEC Code',
  R06: 'Returned per ODFI\'s Request', R07: 'Authorization Revoked by Customer', R08: 'Payment Stopped',
  R09: 'Uncollected Funds', R10: 'Customer Advises Originator is Not Known to Receiver and/or Originator is Not Authorized by Receiver to Debit Receiver\'s Account',
  R11: 'Customer Advises Entry Not in Accordance with the Terms of the Authorization',
  R16: 'Account Frozen/Entry Returned per OFAC Instruction', R20: 'Non-Transaction Account',
  R29: 'Corporate Customer Advises Not Authorized',
};

function describeReturn(code) {
  return DESCRIPTIONS[code] || `Returned (${code})`;
}
const FINAL = new Set(['returned', 'canceled']);

class Settlement {
  // money(rec, BigInt delta): moves the ledger (the source account gains delta).
  // settleAfterMs/returnCode: the start-up configuration (null: transfers wait for a control call).
  constructor({ adapter, webhooks, money, settleAfterMs = null, returnCode = null }) {
    this.adapter = adapter;
    this.webhooks = webhooks;
    this.money = money;
    this.settleAfterMs = settleAfterMs;
    this.returnCode = returnCode;
    this.records = new Map();
    this.timers = new Set();
    this.closed = false;
  }

  close() {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  // Follows a newly created transfer; `created` is an optional event for the creation itself
  // (Increase, Unit send one). With settle-after-ms, it settles (or returns) on its own.
  track(rec, { state = 'pending', created = null } = {}) {
    rec.state = state;
    this.records.set(rec.id, rec);
    if (created) this.webhooks.emit(created);
    if (state !== 'pending' || this.settleAfterMs === null) return;
    const code = this.returnCode;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) this.act(rec.id, code ? 'return' : 'settle', code);
    }, this.settleAfterMs);
    this.timers.add(t);
  }

  find(id) {
    return this.records.get(id) || null;
  }

  // The steps from rec.state that `action` takes, or null when it cannot be taken.
  steps(rec, action) {
    const sub = this.adapter.hasSubmitted(rec);
    const s = rec.state;
    switch (action) {
      case 'submit': return s === 'pending' && sub ? ['submitted'] : null;
      case 'settle':
        if (s === 'pending') return sub ? ['submitted', 'settled'] : ['settled'];
        return s === 'submitted' ? ['settled'] : null;
      case 'return':
        if (s === 'pending') return sub ? ['submitted', 'returned'] : ['returned'];
        return s === 'submitted' || s === 'settled' ? ['returned'] : null;
      case 'cancel': return s === 'pending' ? ['canceled'] : null;
      default: return null;
    }
  }

  // Takes `action` (submit|settle|return|cancel) on transfer `id`. Returns {rec} or
  // {error: 'not_found'|'invalid_state', message}.
  act(id, action, code = null) {
    const rec = this.records.get(id);
    if (!rec) return { error: 'not_found', message: `no ACH transfer ${id} is being followed` };
    const steps = this.steps(rec, action);
    if (!steps) {
      return { error: 'invalid_state', message: `cannot ${action} a transfer that is ${rec.state}` +
        (action === 'submit' && !FINAL.has(rec.state) ? ' (this bank shows no submitted state for it)' : '') };
    }
    for (const state of steps) {
      const info = { now: new Date().toISOString(), code, from: rec.state };
      this.moveMoney(rec, state, info.from);
      rec.state = state;
      this.adapter.apply(rec, state, info);
      const event = this.adapter.event(rec, state, info);
      if (event) this.webhooks.emit(event);
    }
    return { rec };
  }

  // A credit left the source at creation: a return or a cancel brings it back. A debit's money
  // arrives at settlement and leaves again if it is returned afterwards.
  moveMoney(rec, state, from) {
    if (rec.direction === 'credit') {
      if (state === 'returned' || state === 'canceled') this.money(rec, rec.minor);
    } else if (state === 'settled') this.money(rec, rec.minor);
    else if (state === 'returned' && from === 'settled') this.money(rec, -rec.minor);
  }

  // The control routes; returns {status, body} or null for another path.
  control(path, body) {
    const action = { '/_control/settle': 'settle', '/_control/return': 'return', '/_control/cancel': 'cancel',
      '/_control/submit': 'submit' }[path];
    if (action) {
      if (typeof body.id !== 'string') return invalid('need {"id": string}');
      if (action === 'return' && !(typeof body.code === 'string' && NACHA.test(body.code)))
        return invalid('need {"id": string, "code": "R01".."R99"}');
      const r = this.act(body.id, action, action === 'return' ? body.code : null);
      if (r.error) return { status: r.error === 'not_found' ? 404 : 409, body: { error: { code: r.error, message: r.message } } };
      return { status: 200, body: this.adapter.view(r.rec) };
    }
    if (path === '/_control/settlement') {
      const ms = body.settle_after_ms;
      const code = body.return_code;
      if (!(ms === undefined || ms === null || (Number.isSafeInteger(ms) && ms >= 0)) ||
          !(code === undefined || code === null || (typeof code === 'string' && NACHA.test(code))))
        return invalid('need {"settle_after_ms": non-negative integer or null, "return_code": "Rnn" or null}');
      if (ms !== undefined) this.settleAfterMs = ms;
      if (code !== undefined) this.returnCode = code;
      return { status: 200, body: { settle_after_ms: this.settleAfterMs, return_code: this.returnCode } };
    }
    return null;
  }
}

function invalid(message) {
  return { status: 400, body: { error: { code: 'invalid_request', message } } };
}

// Reads a start-up option's value: --settle-after-ms N (non-negative integer), --return-code Rnn.
function parseSettleAfterMs(text) {
  const n = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(n) ? n : null;
}

module.exports = { Settlement, NACHA, parseSettleAfterMs, describeReturn };
