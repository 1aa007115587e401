#!/usr/bin/env node
// A client's webhook receiver, for the rtjobs event tests (tests/e2e/test_events.py) and the
// events benchmark. Every delivery is verified with `standardwebhooks`, the Standard Webhooks
// specification's reference library (not rtjobs code), against the secrets the test gave it.
//
//   node tools/webhook_receiver/server.js --port 0 --host 127.0.0.1 [--quiet]
//
// Prints {"listening": PORT} on start. Deliveries: POST /hooks/{name}. Control API (JSON):
//   POST /_control/secrets/{name}  {"secrets": ["whsec_..."]}  verify {name}'s deliveries with
//        any of these (a delivery verifies when one of them accepts it)
//   POST /_control/mode/{name}     {"status": 200, "delay_ms": 0}  how to answer {name}
//   GET  /_control/received/{name} every request so far, in arrival order: {webhook_id,
//        timestamp, verified, answered, type, data, at}
//   GET  /_control/counts          {name: {requests, verified}} (cheap, for the benchmark)
// Unverified deliveries are answered 400 (and recorded), as a client would refuse them.
'use strict';

const http = require('http');
const { Webhook } = require('standardwebhooks');

const MAX_BODY = 1024 * 1024;

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') opts.port = Number(argv[++i]);
    else if (argv[i] === '--host') opts.host = argv[++i];
    else if (argv[i] === '--quiet') opts.quiet = true;
    else {
      process.stderr.write(`unknown argument ${argv[i]}\n`);
      process.exit(2);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const endpoints = new Map(); // name -> {secrets, status, delayMs, received, verified, requests}

function endpoint(name) {
  if (!endpoints.has(name)) {
    endpoints.set(name, { secrets: [], status: 200, delayMs: 0, received: [], requests: 0, verified: 0 });
  }
  return endpoints.get(name);
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// The first of `secrets` that verifies the delivery, or null. The library throws on a bad,
// missing or stale signature.
function verify(secrets, body, headers) {
  for (const secret of secrets) {
    try {
      return { payload: new Webhook(secret).verify(body, headers), secret };
    } catch (e) {
      // try the next secret
    }
  }
  return null;
}

function onDelivery(name, req, body, res) {
  const e = endpoint(name);
  e.requests++;
  const headers = {
    'webhook-id': req.headers['webhook-id'],
    'webhook-timestamp': req.headers['webhook-timestamp'],
    'webhook-signature': req.headers['webhook-signature'],
  };
  const ok = verify(e.secrets, body, headers);
  const record = {
    webhook_id: headers['webhook-id'] || null,
    timestamp: headers['webhook-timestamp'] || null,
    signatures: (headers['webhook-signature'] || '').split(' ').filter(Boolean).length,
    verified: ok !== null,
    answered: ok === null ? 400 : e.status,
    type: ok ? ok.payload.type : null,
    body_timestamp: ok ? ok.payload.timestamp : null,
    data: ok ? ok.payload.data : null,
    at: Date.now(),
  };
  if (ok) e.verified++;
  if (!opts.quiet) e.received.push(record);
  const answer = () => send(res, record.answered, { received: record.verified });
  if (e.delayMs > 0) setTimeout(answer, e.delayMs);
  else answer();
}

function control(req, body, res) {
  const url = new URL(req.url, 'http://x');
  const parts = url.pathname.split('/').filter(Boolean); // _control, what, name
  let json = {};
  if (body.length) {
    try {
      json = JSON.parse(body);
    } catch (e) {
      return send(res, 400, { error: 'invalid JSON' });
    }
  }
  if (req.method === 'POST' && parts[1] === 'secrets' && parts[2]) {
    endpoint(parts[2]).secrets = json.secrets || [];
    return send(res, 200, { ok: true });
  }
  if (req.method === 'POST' && parts[1] === 'mode' && parts[2]) {
    const e = endpoint(parts[2]);
    if (json.status !== undefined) e.status = json.status;
    if (json.delay_ms !== undefined) e.delayMs = json.delay_ms;
    return send(res, 200, { ok: true });
  }
  if (req.method === 'GET' && parts[1] === 'received' && parts[2]) {
    return send(res, 200, endpoint(parts[2]).received);
  }
  if (req.method === 'GET' && parts[1] === 'counts') {
    const out = {};
    for (const [name, e] of endpoints) out[name] = { requests: e.requests, verified: e.verified };
    return send(res, 200, out);
  }
  return send(res, 404, { error: 'unknown control call' });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.url.startsWith('/_control/')) return control(req, body, res);
    const m = req.url.match(/^\/hooks\/([A-Za-z0-9_-]+)$/);
    if (req.method === 'POST' && m) return onDelivery(m[1], req, body, res);
    send(res, 404, { error: 'not found' });
  });
});
server.keepAliveTimeout = 60000;
server.listen(opts.port, opts.host, () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
