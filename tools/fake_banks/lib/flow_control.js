'use strict';
// Flow control in front of a fake bank, shared by tools/fake_banks and tools/fake_baas: a request
// limit over a sliding one-second window (--max-rps, POST /_control/rate-limit), an outage switch
// (POST /_control/outage) and their counters. One instance per server state; a reset makes a new
// one. The fake calls it for every API request (never for /_control/* or /healthz), and only asks
// it: the answers (429, 503, a dropped socket) stay in the fake's own shapes.
//
// The window: a request is accepted when fewer than max_rps requests were accepted in the last
// 1000 ms (those accepted at t with now - t < 1000). Refused requests (429, outage) do not count.

const WINDOW_MS = 1000;
const OUTAGE_MODES = ['503', 'refuse'];

class FlowControl {
  // maxRps: a positive integer, or null for no limit. now(): milliseconds on a monotonic clock,
  // injectable so the window can be tested exactly.
  constructor(maxRps, now = () => performance.now()) {
    this.maxRps = maxRps;
    this.outage = null; // null, or the mode while down: '503' | 'refuse'
    this.now = now;
    this.accepted = []; // times of the requests accepted within the last second, oldest first
    this.head = 0; // accepted[head] is the oldest still in the window
    this.stats = { rate_limited: 0, outage_rejected: 0, accepted_max_per_second: 0 };
  }

  // At a request's arrival, before its body is read: true when it must be dropped unanswered
  // (outage in mode "refuse").
  dropsUnread() {
    if (this.outage !== 'refuse') return false;
    this.stats.outage_rejected++;
    return true;
  }

  // Just before a request would be executed. Returns null (go ahead; counted as accepted),
  // {outage: '503'|'refuse'}, or {retryAfter: whole seconds >= 1} for a 429.
  admit() {
    if (this.outage !== null) {
      this.stats.outage_rejected++;
      return { outage: this.outage };
    }
    const t = this.now();
    while (this.head < this.accepted.length && t - this.accepted[this.head] >= WINDOW_MS) this.head++;
    if (this.head > 4096 && this.head * 2 > this.accepted.length) {
      this.accepted = this.accepted.slice(this.head);
      this.head = 0;
    }
    const inWindow = this.accepted.length - this.head;
    if (this.maxRps !== null && inWindow >= this.maxRps) {
      this.stats.rate_limited++;
      // Room again once all but maxRps - 1 of them have left the window (the limit may have been
      // lowered below the number in the window).
      const leaves = this.accepted[this.head + inWindow - this.maxRps] + WINDOW_MS;
      return { retryAfter: Math.max(1, Math.ceil((leaves - t) / 1000)) };
    }
    this.accepted.push(t);
    if (inWindow + 1 > this.stats.accepted_max_per_second) this.stats.accepted_max_per_second = inWindow + 1;
    return null;
  }

  // The control routes POST /_control/rate-limit and POST /_control/outage. Returns
  // {status, body} (errors as {"error": {code, message}}), or null for another path.
  control(path, body) {
    if (path === '/_control/rate-limit') {
      const n = body.max_rps;
      if (n !== null && !(Number.isSafeInteger(n) && n > 0))
        return invalid('need {"max_rps": a positive integer, or null for no limit}');
      this.maxRps = n;
      return { status: 200, body: { max_rps: n } };
    }
    if (path === '/_control/outage') {
      const mode = body.mode === undefined ? '503' : body.mode;
      if (typeof body.down !== 'boolean' || (body.down && !OUTAGE_MODES.includes(mode)))
        return invalid('need {"down": true, "mode": "503"|"refuse"} or {"down": false}');
      this.outage = body.down ? mode : null;
      return { status: 200, body: body.down ? { down: true, mode } : { down: false } };
    }
    return null;
  }
}

function invalid(message) {
  return { status: 400, body: { error: { code: 'invalid_request', message } } };
}

// Ends a connection without an answer: a TCP reset where Node can send one, so the client sees
// ECONNRESET rather than a clean close.
function dropConnection(socket) {
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

// Reads --max-rps's value: a positive integer, or null when it is not one.
function parseMaxRps(text) {
  const n = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(n) && n > 0 ? n : null;
}

module.exports = { FlowControl, dropConnection, parseMaxRps, WINDOW_MS };
