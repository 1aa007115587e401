#!/usr/bin/env node
// Graphile Worker reference for the burn-down rows (docs/BENCHMARKS.md, rows 1, 1e and 2).
//
//   node bench/graphile/run.js --url postgresql://... --jobs 50000 --setup fastest|default
//                              [--task noop|equivalent] [--step seed|drain]
//
// Seeds N jobs with one graphile_worker.add_jobs() call (not timed), then starts a worker and
// times it from run() until no job due by now is left. Prints one JSON line on stdout:
//   {"setup", "task", "jobs", "seconds", "jobs_per_s", "concurrent_jobs", "options"
//    [, "next_created", "future_jobs"]}
// Tasks:
// - noop: does nothing (the job system's own overhead, row 1);
// - equivalent: the database work of an rtjobs job after the bank call (row 1e), on the tables
//   of equivalent_schema.sql, one job per occurrence seeded by bench/run.py: one statement, its
//   own transaction, that records the outcome on the occurrence (status, result, bank
//   reference), inserts the next occurrence (a month later) and add_job()s it for its due time.
//   The bank call is rtjobs' sandbox's: a reference made up at once.
// `--step seed` only seeds (and prints nothing); `--step drain` only drains the jobs seeded
// before, so the caller can measure what PostgreSQL did for the drain alone.
'use strict';

const crypto = require('crypto');
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

// The equivalent task's one statement (prepared once per connection): the outcome, the next
// occurrence, its Graphile job. The cheapest form of that transaction: one round trip, no
// BEGIN/COMMIT. An occurrence no longer PENDING (a task run again) writes nothing.
const EQUIVALENT_SQL = `
WITH upd AS (
  UPDATE bench_equivalent.recurring_transfer_job
     SET status = 'FINISHED', result = 'SUCCEEDED', provider_reference = $2,
         finished_at = now(), updated_at = now()
   WHERE id = $1 AND status = 'PENDING'
  RETURNING recurring_transfer_id, sequence, scheduled_for, due_at, provider),
nj AS (
  INSERT INTO bench_equivalent.recurring_transfer_job (
    id, recurring_transfer_id, sequence, scheduled_for, due_at, status, retries, provider,
    idempotency_key, created_at, updated_at)
  SELECT $3, recurring_transfer_id, sequence + 1, (scheduled_for + interval '1 month')::date,
         due_at + interval '1 month', 'PENDING', 0, provider,
         recurring_transfer_id::text || ':' || (sequence + 1), now(), now()
    FROM upd
  ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING
  RETURNING id, due_at)
SELECT (graphile_worker.add_job('transfer', json_build_object('id', nj.id),
                                run_at => nj.due_at)).id
  FROM nj`;

// A UUIDv7 (48-bit millisecond time, version 7, variant 10, random rest), as rtjobs makes ids.
function uuid7() {
  const b = crypto.randomBytes(16);
  b.writeUIntBE(Date.now(), 0, 6);
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// rtjobs' sandbox answers at once with a reference made from the idempotency key.
function sandboxReference(id) {
  return 'sbx_' + crypto.createHash('sha256').update(id).digest('hex').slice(0, 16);
}

const TASKS = {
  noop: async () => {},
  equivalent: async (payload, helpers) => {
    const reference = sandboxReference(payload.id);
    await helpers.withPgClient((client) => client.query({
      name: 'bench-equivalent', text: EQUIVALENT_SQL, values: [payload.id, reference, uuid7()],
    }));
  },
};
const IDENTIFIERS = { noop: 'noop', equivalent: 'transfer' };

function parseArgs(argv) {
  const opts = {
    url: process.env.DATABASE_URL, jobs: 50000, setup: 'fastest', task: 'noop', step: 'all',
  };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--url') opts.url = value;
    else if (argv[i] === '--jobs') opts.jobs = Number(value);
    else if (argv[i] === '--setup') opts.setup = value;
    else if (argv[i] === '--step') opts.step = value;
    else if (argv[i] === '--task') opts.task = value;
    else throw new Error(`unknown argument ${argv[i]}`);
    i++;
  }
  if (!opts.url || !SETUPS[opts.setup] || !TASKS[opts.task] || !(opts.jobs > 0) ||
      !['all', 'seed', 'drain'].includes(opts.step)) {
    throw new Error('usage: run.js --url URL --jobs N --setup fastest|default' +
                    ' [--task noop|equivalent] [--step seed|drain]');
  }
  return opts;
}

const silentLogger = {
  scope: () => silentLogger,
  debug() {}, info() {}, warn() {},
  error(message) { process.stderr.write(`graphile: ${message}\n`); },
};

async function seed(client, jobs, task) {
  await client.query('DELETE FROM graphile_worker._private_jobs');
  if (task === 'noop') {
    await client.query(
      `SELECT count(*) FROM graphile_worker.add_jobs(array(
         SELECT ('noop', json_build_object('i', i), NULL, NULL, NULL, NULL, NULL, NULL)
                  ::graphile_worker.job_spec
         FROM generate_series(1, $1::int) AS i))`,
      [jobs],
    );
  } else {
    // One job per due occurrence, seeded before by bench/run.py (seed_pg.sql).
    await client.query(
      `SELECT count(*) FROM graphile_worker.add_jobs(array(
         SELECT ('transfer', json_build_object('id', id), NULL, NULL, NULL, NULL, NULL, NULL)
                  ::graphile_worker.job_spec
         FROM bench_equivalent.recurring_transfer_job WHERE status = 'PENDING'
         ORDER BY due_at, id))`,
    );
  }
  await client.query('VACUUM ANALYZE graphile_worker._private_jobs');
}

// Jobs due by now: the equivalent task's next occurrences are queued a month ahead.
async function remaining(client) {
  const r = await client.query(
    'SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE run_at <= now()');
  return r.rows[0].n;
}

// What the equivalent drain left: next occurrences created, and their jobs queued for later.
async function equivalentCheck(client) {
  const r = await client.query(
    `SELECT (SELECT count(*)::int FROM bench_equivalent.recurring_transfer_job
              WHERE sequence = 2) AS next_created,
            (SELECT count(*)::int FROM graphile_worker._private_jobs
              WHERE run_at > now()) AS future_jobs`);
  return r.rows[0];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const options = SETUPS[opts.setup];
  await runMigrations({ connectionString: opts.url, logger: silentLogger });
  const client = new Client({ connectionString: opts.url });
  await client.connect();
  if (opts.step !== 'drain') await seed(client, opts.jobs, opts.task);
  if (opts.step === 'seed') return client.end();
  if ((await remaining(client)) !== opts.jobs) throw new Error(`${opts.jobs} jobs not seeded`);

  let done = 0;
  let allDone;
  const finished = new Promise((resolve) => { allDone = resolve; });
  const started = process.hrtime.bigint();
  const runner = await run({
    preset: { worker: { connectionString: opts.url, logger: silentLogger, ...options } },
    taskList: { [IDENTIFIERS[opts.task]]: TASKS[opts.task] },
    noHandleSignals: true,
  });
  runner.events.on('job:success', () => { if (++done === opts.jobs) allDone(); });
  // A failed task is retried much later: the drain would never end.
  runner.events.on('job:error', ({ error }) => {
    process.stderr.write(`graphile task failed: ${error && (error.stack || error)}\n`);
    process.exit(1);
  });
  await finished;
  // Batched completions reach the table a moment after the task resolves: wait for them.
  while ((await remaining(client)) > 0) await new Promise((r) => setTimeout(r, 5));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  await runner.stop();
  const check = opts.task === 'equivalent' ? await equivalentCheck(client) : {};
  await client.end();
  process.stdout.write(JSON.stringify({
    setup: opts.setup,
    task: opts.task,
    ...check,
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
