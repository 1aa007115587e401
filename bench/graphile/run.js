#!/usr/bin/env node
// Graphile Worker reference for the burn-down rows (docs/BENCHMARKS.md, rows 1 and 2).
//
//   node bench/graphile/run.js --url postgresql://... --jobs 50000 --setup fastest|default
//                              [--step seed|drain]
//
// Seeds N no-op jobs with one graphile_worker.add_jobs() call (not timed), then starts a worker
// and times it from run() until the jobs table is empty. Prints one JSON line on stdout:
//   {"setup", "jobs", "seconds", "jobs_per_s", "concurrent_jobs", "options"}
// `--step seed` only seeds (and prints nothing); `--step drain` only drains the jobs seeded
// before, so the caller can measure what PostgreSQL did for the drain alone.
'use strict';

const { run, runMigrations } = require('graphile-worker');
const { Client } = require('pg');

// The "Quick stats" configuration of https://worker.graphile.org/docs/performance (0.17):
// local queue, batched completions and failures, concurrency 24 on a pool of 25.
const SETUPS = {
  fastest: {
    concurrentJobs: 24,
    maxPoolSize: 25,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
  // Library defaults: concurrentJobs 1, maxPoolSize 10, no local queue, no batching.
  default: {},
};

function parseArgs(argv) {
  const opts = { url: process.env.DATABASE_URL, jobs: 50000, setup: 'fastest', step: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--url') opts.url = value;
    else if (argv[i] === '--jobs') opts.jobs = Number(value);
    else if (argv[i] === '--setup') opts.setup = value;
    else if (argv[i] === '--step') opts.step = value;
    else throw new Error(`unknown argument ${argv[i]}`);
    i++;
  }
  if (!opts.url || !SETUPS[opts.setup] || !(opts.jobs > 0) ||
      !['all', 'seed', 'drain'].includes(opts.step)) {
    throw new Error('usage: run.js --url URL --jobs N --setup fastest|default [--step seed|drain]');
  }
  return opts;
}

const silentLogger = {
  scope: () => silentLogger,
  debug() {}, info() {}, warn() {},
  error(message) { process.stderr.write(`graphile: ${message}\n`); },
};

async function seed(client, jobs) {
  await client.query('DELETE FROM graphile_worker._private_jobs');
  await client.query(
    `SELECT count(*) FROM graphile_worker.add_jobs(array(
       SELECT ('noop', json_build_object('i', i), NULL, NULL, NULL, NULL, NULL, NULL)
                ::graphile_worker.job_spec
       FROM generate_series(1, $1::int) AS i))`,
    [jobs],
  );
  await client.query('VACUUM ANALYZE graphile_worker._private_jobs');
}

async function remaining(client) {
  const r = await client.query('SELECT count(*)::int AS n FROM graphile_worker._private_jobs');
  return r.rows[0].n;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const options = SETUPS[opts.setup];
  await runMigrations({ connectionString: opts.url, logger: silentLogger });
  const client = new Client({ connectionString: opts.url });
  await client.connect();
  if (opts.step !== 'drain') await seed(client, opts.jobs);
  if (opts.step === 'seed') return client.end();
  if ((await remaining(client)) !== opts.jobs) throw new Error(`${opts.jobs} jobs not seeded`);

  let done = 0;
  let allDone;
  const finished = new Promise((resolve) => { allDone = resolve; });
  const started = process.hrtime.bigint();
  const runner = await run({
    preset: { worker: { connectionString: opts.url, logger: silentLogger, ...options } },
    taskList: { noop: async () => {} },
    noHandleSignals: true,
  });
  runner.events.on('job:success', () => { if (++done === opts.jobs) allDone(); });
  await finished;
  // Batched completions reach the table a moment after the task resolves: wait for them.
  while ((await remaining(client)) > 0) await new Promise((r) => setTimeout(r, 5));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  await runner.stop();
  await client.end();
  process.stdout.write(JSON.stringify({
    setup: opts.setup,
    jobs: opts.jobs,
    seconds,
    jobs_per_s: opts.jobs / seconds,
    concurrent_jobs: options.concurrentJobs ?? 1,
    options,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`graphile run failed: ${e.stack || e}\n`);
  process.exit(1);
});
