'use strict';
// Webhooks out of a fake bank, shared by tools/fake_banks and tools/fake_baas: the events a fake
// emits, their delivery to one URL with retries, and the control routes to look at them, hold
// them back, release them in or out of order and replay them (README.md, "Webhooks").
//
// A fake gives each event its bank's shape: an id (kept on every attempt and replay), a type, the
// transfer it is about and the raw body; `sign(event, secret, unixSeconds)` returns the headers
// of one attempt (a timestamped signature is made afresh for each attempt, as real banks do).

const crypto = require('crypto');
const http = require('http');
const https = require('https');

const TIMEOUT_MS = 10000; // Column: "2xx within 10 s"; the others are not stricter (docs silent)
const MAX_TRIES = 8;
const BACKOFF_CAP_MS = 30000;
const DEFAULT_BASE_MS = 1000;

// ---- the banks' signature schemes ----

// Standard Webhooks (https://www.standardwebhooks.com): v1,<base64 HMAC-SHA256(key, id.ts.body)>.
function standardSignature(key, id, ts, body) {
  return `v1,${crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')}`;
}

function standardHeaders(key, id, ts, body) {
  return { 'webhook-id': id, 'webhook-timestamp': String(ts),
    'webhook-signature': standardSignature(key, id, ts, body) };
}

// The key of a Standard Webhooks secret as its libraries read it: "whsec_<base64>" is the
// base64-decoded bytes; anything else its UTF-8 bytes.
function standardKey(secret) {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

function hmac(algorithm, key, body, encoding) {
  return crypto.createHmac(algorithm, key).update(body).digest(encoding);
}

// ---- delivery ----

class Webhooks {
  // sign(event, secret, unixSeconds) -> headers. url/secret: the start-up configuration (also
  // what a reset restores).
  constructor({ sign, url = null, secret = null }) {
    this.sign = sign;
    this.url = url;
    this.secret = secret;
    this.baseMs = DEFAULT_BASE_MS;
    this.held = false;
    this.queue = []; // events held back, in emission order
    this.events = []; // every event, oldest first
    this.byId = new Map();
    this.timers = new Set();
    this.closed = false;
    this.stats = { webhooks_events: 0, webhooks_sent: 0, webhooks_failed: 0 };
  }

  // Stops every pending retry and forgets nothing else (the state is dropped by the caller).
  close() {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  // {id, type, transfer_id, body (string)}: recorded, then sent (or held).
  emit(e) {
    const event = { event_id: e.id, type: e.type, transfer_id: e.transfer_id, created_at: new Date().toISOString(),
      body: e.body, held: false, attempts: [] };
    this.events.push(event);
    this.byId.set(event.event_id, event);
    this.stats.webhooks_events++;
    if (this.held) {
      event.held = true;
      this.queue.push(event);
    } else this.deliver(event, false);
    return event;
  }

  // One delivery run: up to MAX_TRIES attempts until a 2xx, backing off exponentially from
  // baseMs (capped at 30 s). Without a URL nothing is sent.
  // Returns a promise settled once the first attempt has been answered (or failed).
  deliver(event, replay) {
    if (this.url === null) return Promise.resolve();
    const url = this.url;
    const secret = this.secret;
    const attemptOnce = (n) => {
      if (this.closed) return;
      const ts = Math.floor(Date.now() / 1000);
      const headers = { 'Content-Type': 'application/json', ...this.sign(event, secret, ts) };
      const record = { at: new Date().toISOString(), try: n, replay, status: null, error: null };
      event.attempts.push(record);
      const failed = (err) => {
        record.error = err.code || err.message;
        return null;
      };
      return post(url, headers, event.body).catch(failed).then((status) => {
        if (this.closed) return;
        record.status = status;
        if (status !== null && status >= 200 && status < 300) {
          this.stats.webhooks_sent++;
          return;
        }
        this.stats.webhooks_failed++;
        if (n >= MAX_TRIES) return;
        const wait = Math.min(this.baseMs * 2 ** (n - 1), BACKOFF_CAP_MS);
        const t = setTimeout(() => {
          this.timers.delete(t);
          attemptOnce(n + 1);
        }, wait);
        this.timers.add(t);
      });
    };
    return attemptOnce(1);
  }

  view() {
    return { url: this.url, held: this.held, retry_base_ms: this.baseMs,
      events: this.events.map((e) => ({ ...e, delivered: e.attempts.some((a) => a.status >= 200 && a.status < 300) })) };
  }

  // The control routes; returns {status, body} or null for another path.
  control(method, path, body) {
    if (method === 'GET') return path === '/_control/webhooks' ? { status: 200, body: this.view() } : null;
    switch (path) {
      case '/_control/webhook': {
        const okUrl = body.url === null || (typeof body.url === 'string' && /^https?:\/\//.test(body.url));
        const okSecret = body.secret === undefined || body.secret === null || typeof body.secret === 'string';
        const okBase = body.retry_base_ms === undefined || (Number.isSafeInteger(body.retry_base_ms) && body.retry_base_ms > 0);
        if (!okUrl || !okSecret || !okBase)
          return invalid('need {"url": "http(s)://..." or null, "secret"?: string, "retry_base_ms"?: positive integer}');
        this.url = body.url;
        if (body.secret !== undefined) this.secret = body.secret;
        if (body.retry_base_ms !== undefined) this.baseMs = body.retry_base_ms;
        return { status: 200, body: { url: this.url, secret_set: this.secret !== null, retry_base_ms: this.baseMs } };
      }
      case '/_control/webhooks/hold':
        this.held = true;
        return { status: 200, body: { held: true, queued: this.queue.length } };
      case '/_control/webhooks/release': {
        const order = body.order === undefined ? 'fifo' : body.order;
        if (order !== 'fifo' && order !== 'reverse') return invalid('need {"order": "fifo"|"reverse"}');
        const queued = order === 'reverse' ? this.queue.slice().reverse() : this.queue.slice();
        this.queue = [];
        this.held = false;
        // One after the other: each is sent once the previous one's first attempt is answered,
        // so the receiver sees them in exactly this order (retries may then interleave).
        let chain = Promise.resolve();
        for (const e of queued) {
          e.held = false;
          chain = chain.then(() => this.deliver(e, false));
        }
        return { status: 200, body: { released: queued.map((e) => e.event_id) } };
      }
      case '/_control/webhooks/replay': {
        const event = typeof body.event_id === 'string' ? this.byId.get(body.event_id) : undefined;
        if (!event) return { status: 404, body: { error: { code: 'not_found', message: 'no such event_id' } } };
        if (this.url === null) return { status: 409, body: { error: { code: 'no_webhook_url', message: 'no webhook URL configured' } } };
        this.deliver(event, true);
        return { status: 200, body: { replayed: event.event_id } };
      }
      default: return null;
    }
  }
}

// POSTs `body`; resolves with the answer's status (its body read and dropped), rejects on a
// network error or after TIMEOUT_MS without a complete answer (error code "timeout"). Plain
// http/https rather than fetch, which refuses some ports (fetch's "bad port" list).
function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(u, { method: 'POST', agent: false,
      headers: { ...headers, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })), TIMEOUT_MS);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(body);
  });
}

function invalid(message) {
  return { status: 400, body: { error: { code: 'invalid_request', message } } };
}

module.exports = { Webhooks, standardHeaders, standardSignature, standardKey, hmac };
