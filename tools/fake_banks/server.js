#!/usr/bin/env node
// A fake of one of four real banks' APIs (Increase, Column, Unit, Treasury Prime), for the
// adapters' tests, demos and benchmarks. Node 20, built-in modules only. See README.md.
//
//   node tools/fake_banks/server.js --bank increase|column|unit|treasury_prime \
//        --port 0 --host 127.0.0.1 [--latency-ms N] [--max-rps N] <credentials>
//
// Credentials: --token T (increase, unit), --api-key K (column), --key-id I --secret S
// (treasury_prime). Prints one line on stdout once listening: {"listening": PORT}.
'use strict';

const { createServer } = require('./lib/core');
const { parseMaxRps } = require('./lib/flow_control');
const { parseSettleAfterMs, NACHA } = require('./lib/settlement');

const BANKS = {
  increase: './banks/increase',
  column: './banks/column',
  unit: './banks/unit',
  treasury_prime: './banks/treasury_prime',
};

const USAGE = 'usage: server.js --bank increase|column|unit|treasury_prime [--port N] [--host H] ' +
  '[--latency-ms N] [--max-rps N] [--token T] [--api-key K] [--key-id I --secret S] ' +
  '[--settle-after-ms N [--return-code Rnn]] [--webhook-url URL --webhook-secret S]\n';

function fatal(msg) {
  process.stderr.write(`fake_banks: ${msg}\n${USAGE}`);
  process.exit(2);
}

function intArg(name, v) {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) fatal(`${name} must be a non-negative integer`);
  return n;
}

function parseArgs(argv) {
  const opts = { bank: null, port: 0, host: '127.0.0.1', latencyMs: 0, maxRps: null,
    token: null, apiKey: null, keyId: null, secret: null,
    settleAfterMs: null, returnCode: null, webhookUrl: null, webhookSecret: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fatal(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--bank': opts.bank = next(); break;
      case '--port': opts.port = intArg(a, next()); break;
      case '--host': opts.host = next(); break;
      case '--latency-ms': opts.latencyMs = intArg(a, next()); break;
      case '--max-rps':
        opts.maxRps = parseMaxRps(next());
        if (opts.maxRps === null) fatal('--max-rps must be a positive integer');
        break;
      case '--token': opts.token = next(); break;
      case '--api-key': opts.apiKey = next(); break;
      case '--key-id': opts.keyId = next(); break;
      case '--secret': opts.secret = next(); break;
      case '--settle-after-ms':
        opts.settleAfterMs = parseSettleAfterMs(next());
        if (opts.settleAfterMs === null) fatal('--settle-after-ms must be a non-negative integer');
        break;
      case '--return-code':
        opts.returnCode = next();
        if (!NACHA.test(opts.returnCode)) fatal('--return-code must look like R01');
        break;
      case '--webhook-url':
        opts.webhookUrl = next();
        if (!/^https?:\/\//.test(opts.webhookUrl)) fatal('--webhook-url must be an http(s) URL');
        break;
      case '--webhook-secret': opts.webhookSecret = next(); break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default: fatal(`unknown argument ${a}`);
    }
  }
  if (!opts.bank) fatal('--bank is required');
  if (!Object.prototype.hasOwnProperty.call(BANKS, opts.bank)) fatal(`unknown bank ${opts.bank}`);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const bank = require(BANKS[opts.bank]);
// A fake that accepted any credentials would hide an adapter that sends none.
for (const c of bank.credentials) {
  if (!opts[c.opt]) fatal(`${opts.bank} needs ${bank.credentials.map((x) => `${x.flag} VALUE`).join(' ')}`);
}

const { server, core } = createServer(bank, opts);
server.on('error', (e) => {
  process.stderr.write(`fake_banks: ${e.message}\n`);
  process.exit(2);
});
server.listen({ port: opts.port, host: opts.host, backlog: 2048 }, () => {
  core.base = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${server.address().port}`;
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
