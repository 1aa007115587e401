#!/usr/bin/env node
// Open-loop HTTP/1.1 load for row 11 (bench/settlement.py): sends the requests of a JSONL file
// at a fixed rate over keep-alive connections and prints one JSON line of figures.
//
//   node bench/settlement_sender.js --url http://127.0.0.1:PORT --requests FILE --rate 1000 \
//        [--connections 64] [--timeout-ms 10000] [--warmup-path /healthz] [--out FILE]
//
// Each line of --requests is {"m": method, "p": path, "h": {headers}, "b": body string or null}.
// Open loop: request i is due at start + i / rate, whether or not earlier ones were answered,
// and its latency runs from that due time to the end of its answer, so time spent waiting
// for a free connection or behind a slow answer counts (no coordinated omission). The figures:
// answered, by status; errors (socket errors and timeouts); latency percentiles of the answered;
// how late the sender itself issued requests (its own lag, to show it kept the schedule); the
// rate offered (requests over the time from the first to the last issue) and answered; per
// second, answers and the slowest latency; and the sums of the JSON answers' "received" and
// "duplicates" (the webhook route's answer).
// --warmup-path P: before the clock starts, three rounds of GET P on every connection at once,
// so the connections are open and the sender's code compiled (not counted).
// --rate 0: closed loop, as fast as --connections allow (used to fetch, not measured).
// --latencies FILE: "due ms since start, latency ms" of every answered request, one a line (to
// line the slow ones up with the server's log; not used by the row itself).
// --out FILE: every answer body, one JSON line each ({"i", "status", "body"}), in request order.
'use strict';

const fs = require('fs');
const http = require('http');
const { performance } = require('perf_hooks');

function parseArgs(argv) {
  const o = { connections: 64, timeoutMs: 10000, rate: 1000, out: null, warmupPath: null,
    latencies: null };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--url': o.url = new URL(v); i++; break;
      case '--requests': o.requests = v; i++; break;
      case '--rate': o.rate = Number(v); i++; break;
      case '--connections': o.connections = Number(v); i++; break;
      case '--timeout-ms': o.timeoutMs = Number(v); i++; break;
      case '--out': o.out = v; i++; break;
      case '--warmup-path': o.warmupPath = v; i++; break;
      case '--latencies': o.latencies = v; i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!o.url || !o.requests) throw new Error('--url and --requests are required');
  return o;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

// `rounds` rounds of `connections` GETs at once on the agent; resolves when all are answered.
async function warmUp(agent, url, path, connections, rounds) {
  for (let round = 0; round < rounds; round++) {
    await Promise.all(Array.from({ length: connections }, () => new Promise((resolve) => {
      const req = http.request({ agent, host: url.hostname, port: url.port, path }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', resolve);
      req.end();
    })));
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const requests = fs.readFileSync(o.requests, 'utf8').split('\n').filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
  // Bodies as Buffers and headers complete before the clock starts: nothing to build while sending.
  for (const r of requests) {
    r.buf = r.b === null || r.b === undefined ? null : Buffer.from(r.b);
    r.headers = { ...(r.h || {}) };
    if (r.buf) r.headers['Content-Length'] = String(r.buf.length);
  }
  const n = requests.length;
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections,
    maxFreeSockets: o.connections, scheduling: 'fifo' });
  const latency = new Float64Array(n).fill(-1);
  const lag = new Float64Array(n);
  const bodies = o.out ? new Array(n) : null;
  const statuses = {};
  const errors = {};
  let answered = 0;
  let done = 0;
  let received = 0;
  let duplicates = 0;
  let firstIssue = null;
  let lastIssue = null;
  let lastAnswer = null;
  const perSecond = []; // [answers, slowest latency ms] by second since start
  const interval = o.rate > 0 ? 1000 / o.rate : 0;
  if (o.warmupPath) await warmUp(agent, o.url, o.warmupPath, o.connections, 3);
  const start = performance.now() + (o.rate > 0 ? 100 : 0);
  const startUnixMs = Date.now() + (start - performance.now());
  let next = 0;
  let inFlight = 0;

  function finish() {
    const lat = [];
    for (let i = 0; i < n; i++) if (latency[i] >= 0) lat.push(latency[i]);
    lat.sort((a, b) => a - b);
    const lags = Array.from(lag).sort((a, b) => a - b);
    const issueSeconds = (lastIssue - firstIssue) / 1000;
    const result = {
      requests: n, answered, statuses, errors,
      error_count: Object.values(errors).reduce((a, b) => a + b, 0),
      non_2xx: Object.entries(statuses).filter(([s]) => !s.startsWith('2'))
        .reduce((a, [, c]) => a + c, 0),
      rate: o.rate, connections: o.connections, start_unix_ms: Math.round(startUnixMs),
      offered_per_s: issueSeconds > 0 ? (n - 1) / issueSeconds : null,
      answered_per_s: answered / ((lastAnswer - start) / 1000),
      seconds: (lastAnswer - start) / 1000,
      p50_ms: percentile(lat, 0.5), p90_ms: percentile(lat, 0.9), p99_ms: percentile(lat, 0.99),
      p999_ms: percentile(lat, 0.999), max_ms: lat.length ? lat[lat.length - 1] : null,
      mean_ms: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : null,
      sender_lag_p99_ms: percentile(lags, 0.99), sender_lag_max_ms: lags[lags.length - 1],
      received, duplicates,
      per_second: perSecond.map((x) => (x ? [x[0], Math.round(x[1] * 10) / 10] : [0, 0])),
    };
    if (bodies) {
      fs.writeFileSync(o.out, bodies.map((b, i) => JSON.stringify({ i, status: b[0], body: b[1] }))
        .join('\n') + '\n');
    }
    if (o.latencies) {
      const lines = [];
      for (let i = 0; i < n; i++) {
        if (latency[i] >= 0) lines.push(`${(i * interval).toFixed(1)} ${latency[i].toFixed(2)}`);
      }
      fs.writeFileSync(o.latencies, lines.join('\n') + '\n');
    }
    agent.destroy();
    process.stdout.write(JSON.stringify(result) + '\n');
  }

  function settle() {
    done++;
    inFlight--;
    if (done === n) finish();
    else if (o.rate === 0) pump();
  }

  function fire(i, due) {
    const r = requests[i];
    const issued = performance.now();
    lag[i] = issued - due;
    if (firstIssue === null) firstIssue = issued;
    lastIssue = issued;
    inFlight++;
    let ended = false;
    const req = http.request({ agent, host: o.url.hostname, port: o.url.port, method: r.m,
      path: r.p, headers: r.headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (ended) return;
        ended = true;
        const now = performance.now();
        const ms = now - due;
        latency[i] = ms;
        lastAnswer = now;
        answered++;
        statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
        const sec = Math.floor((now - start) / 1000);
        const slot = perSecond[sec] || (perSecond[sec] = [0, 0]);
        slot[0]++;
        if (ms > slot[1]) slot[1] = ms;
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode === 200 && text.startsWith('{"')) {
          try {
            const j = JSON.parse(text);
            if (typeof j.received === 'number') received += j.received;
            if (typeof j.duplicates === 'number') duplicates += j.duplicates;
            if (bodies) bodies[i] = [res.statusCode, j];
          } catch (e) { if (bodies) bodies[i] = [res.statusCode, text]; }
        } else if (bodies) {
          bodies[i] = [res.statusCode, text];
        }
        settle();
      });
    });
    req.setTimeout(o.timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      if (ended) return;
      ended = true;
      const code = e.code || e.message;
      errors[code] = (errors[code] || 0) + 1;
      lastAnswer = performance.now();
      if (bodies) bodies[i] = [0, code];
      settle();
    });
    req.end(r.buf || undefined);
  }

  function pump() { // closed loop
    while (next < n && inFlight < o.connections) fire(next++, performance.now());
  }

  function tick() { // open loop: everything due by now, then wait for the next due time
    const now = performance.now();
    while (next < n && start + next * interval <= now) {
      fire(next, start + next * interval);
      next++;
    }
    if (next < n) setTimeout(tick, Math.max(0, start + next * interval - performance.now() - 0.5));
  }

  if (n === 0) return finish();
  if (o.rate === 0) pump();
  else setTimeout(tick, 100);
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
