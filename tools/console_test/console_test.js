// The operator console as a person uses it: Debian's chromium (never a downloaded browser),
// headless, driven by playwright-core against the `rtjobs serve` that tests/e2e/test_console.py
// started and filled (its environment names the server, the token and the transfers). Each
// scenario waits for what the page shows, never for a fixed time. Exits non-zero on the first
// failure; prints one line per scenario.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const {chromium} = require('playwright-core');
const {AxeBuilder} = require('@axe-core/playwright');

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set (run through tests/e2e/test_console.py)`);
  return process.env[name];
};
const BASE = env('RT_URL');
const TOKEN = env('RT_TOKEN');
const SHOTS = env('CONSOLE_SCREENSHOTS');
const ids = {rent: env('RENT_ID'), declined: env('DECLINED_ID'), failed: env('FAILED_ID'), xss: env('XSS_ID')};
const MAX_GZIP_BYTES = 300 * 1024;
const MAX_FIRST_LOAD_MS = 1000;

async function apiCall(method, p, body, headers = {}) {
  const r = await fetch(BASE + p, {method, headers: {Authorization: `Bearer ${TOKEN}`,
    'Content-Type': 'application/json', ...headers}, body: body ? JSON.stringify(body) : undefined});
  return {status: r.status, headers: r.headers, body: await r.json().catch(() => null)};
}

async function scenario(name, f) {
  const started = Date.now();
  await f();
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

// No serious or critical accessibility violation on the page as it is now.
async function accessible(page, name) {
  const results = await new AxeBuilder({page}).analyze();
  assert.ok(results.passes.length > 10, `axe checked the ${name} page`);
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
    `axe on the ${name} page`);
}

const shot = (page, name) => page.screenshot({path: path.join(SHOTS, `${name}.png`), fullPage: true});

// Confirms the dialog every action opens.
async function confirm(page) {
  await page.locator('#confirm-ok').click();
}

async function main() {
  const browser = await chromium.launch({executablePath: process.env.RT_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage']});
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => { pageErrors.push(`unexpected browser dialog: ${d.message()}`); d.dismiss(); });
  const consoleBytes = new Map();  // every /console/ file the page loaded -> its gzip size
  page.on('response', async (r) => {
    if (!new URL(r.url()).pathname.startsWith('/console/') || r.status() !== 200) return;
    consoleBytes.set(r.url(), zlib.gzipSync(await r.body(), {level: 9}).length);
  });

  await scenario('a wrong token shows a sign-in error', async () => {
    await page.goto(`${BASE}/console/`);
    await accessible(page, 'sign-in');
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', {name: 'Sign in'}).click();
    await page.getByRole('alert').filter({hasText: 'token was refused'}).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await shot(page, 'signin-error');
  });

  await scenario('sign in: the overview, with the token in sessionStorage and no cookie', async () => {
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', {name: 'Sign in'}).click();
    await page.getByRole('heading', {name: 'Overview'}).waitFor();
    await page.locator('#outcomes-chart').waitFor();
    assert.equal(await page.evaluate(() => Object.values(sessionStorage)[0]), TOKEN);
    assert.deepEqual(await context.cookies(), []);
    // The refusal and the failure of the scene are in the last 24 hours' outcomes.
    const legend = await page.locator('.legend').textContent();
    assert.match(legend, /declined: 1/);
    assert.match(legend, /failed: 1/);
    await accessible(page, 'overview');
    await shot(page, 'overview');
    // It refreshes by itself (every 10 s).
    await page.waitForResponse((r) => r.url() === `${BASE}/v1/overview` && r.status() === 200, {timeout: 15000});
  });

  await scenario(`the whole console weighs under ${MAX_GZIP_BYTES / 1024} KiB compressed`, async () => {
    const total = [...consoleBytes.values()].reduce((a, b) => a + b, 0);
    assert.ok(consoleBytes.size >= 8, `files loaded: ${[...consoleBytes.keys()].join(', ')}`);
    assert.ok(total < MAX_GZIP_BYTES, `${total} bytes gzip-compressed`);
    console.log(`     ${consoleBytes.size} files, ${total} bytes gzip-compressed`);
  });

  await scenario('find a transfer by external id and by account', async () => {
    await page.getByRole('link', {name: 'Transfers'}).click();
    await page.locator('#results tbody tr').first().waitFor();
    assert.equal(await page.locator('#results tbody tr').count(), 50);  // paged, not all
    await accessible(page, 'transfers');
    await shot(page, 'transfers');
    await page.getByLabel('Account (source or destination)').fill('decline_console');
    await page.getByRole('button', {name: 'Search'}).click();
    await page.locator('#results tbody tr').filter({hasText: ids.declined}).waitFor();
    assert.equal(await page.locator('#results tbody tr').count(), 1);
    await page.getByLabel('Account (source or destination)').fill('');
    await page.getByLabel('External id').fill('console-rent');
    await page.getByRole('button', {name: 'Search'}).click();
    await page.locator('#results tbody tr').filter({hasText: ids.rent}).waitFor();
    assert.equal(await page.locator('#results tbody tr').count(), 1);
    await page.getByRole('link', {name: ids.rent}).click();
    await page.getByRole('heading', {name: `Transfer ${ids.rent}`}).waitFor();
  });

  await scenario('read the schedule in words and the next 12 occurrences', async () => {
    assert.equal((await page.locator('#schedule-words').textContent()).trim(),
      'last day of every month at 09:30 America/New_York, following business day (calendar WEEKENDS)');
    await page.locator('#occurrences tbody tr').first().waitFor();
    const rows = await page.locator('#occurrences tbody tr').allTextContents();
    assert.equal(rows.length, 12);
    for (const row of rows) assert.match(row, /\d{4}-\d{2}-\d{2}.*UTC/);
    await page.locator('#jobs tbody tr').first().waitFor();
    await accessible(page, 'transfer');
    await shot(page, 'transfer');
  });

  await scenario('an action is not taken when its confirmation is refused', async () => {
    await page.locator('#pause').click();
    await page.locator('#confirm').getByRole('button', {name: 'Cancel'}).click();
    const got = await apiCall('GET', `/v1/recurring-transfers/${ids.rent}`);
    assert.equal(got.body.status, 'ACTIVE');
  });

  await scenario('pause and resume', async () => {
    await page.locator('#pause').click();
    await confirm(page);
    await page.locator('#action-status').getByText('Paused.').waitFor();
    assert.equal((await apiCall('GET', `/v1/recurring-transfers/${ids.rent}`)).body.status, 'PAUSED');
    await page.locator('#resume').click();
    await confirm(page);
    await page.locator('#action-status').getByText('Resumed.').waitFor();
    assert.equal((await apiCall('GET', `/v1/recurring-transfers/${ids.rent}`)).body.status, 'ACTIVE');
  });

  await scenario('skip an occurrence', async () => {
    const skip = page.getByRole('button', {name: 'Skip occurrence 1'});
    await skip.click();
    await confirm(page);
    await page.locator('#action-status').getByText('Occurrence 1 skipped.').waitFor();
    const row = page.locator('#jobs tbody tr').first();
    await row.getByText('SKIPPED').waitFor();
  });

  await scenario('change an amount, and a stale version is refused (412)', async () => {
    const t = await apiCall('GET', `/v1/recurring-transfers/${ids.rent}`);
    assert.equal(typeof t.body.version, 'number', 'the transfer has a version');
    await page.getByLabel(/New amount/).fill('60.00');
    await page.getByRole('button', {name: 'Change amount'}).click();
    await confirm(page);
    await page.locator('#action-status').getByText('Amount changed to 60.00 USD.').waitFor();
    assert.equal((await apiCall('GET', `/v1/recurring-transfers/${ids.rent}`)).body.amount, 6000);
    // Someone else changes the transfer behind the page's back; the page's version is stale.
    const now = await apiCall('GET', `/v1/recurring-transfers/${ids.rent}`);
    const other = await apiCall('PATCH', `/v1/recurring-transfers/${ids.rent}`, {amount: 6500},
      {'If-Match': now.headers.get('etag')});
    assert.equal(other.status, 200, JSON.stringify(other.body));
    await page.getByLabel(/New amount/).fill('70.00');
    await page.getByRole('button', {name: 'Change amount'}).click();
    await confirm(page);
    await page.locator('#stale').getByText('changed by someone else').waitFor();
    assert.equal((await apiCall('GET', `/v1/recurring-transfers/${ids.rent}`)).body.amount, 6500);
    await shot(page, 'transfer-stale-version');
    await page.locator('#history tbody tr').first().waitFor();
    assert.match(await page.locator('#history').textContent(), /updated.*amount: 50\.00 USD → 60\.00 USD/);
    await page.getByRole('button', {name: 'Reload'}).click();
    await page.locator('#amount').getByText('65.00 USD').waitFor();
    const rows = await page.locator('#history tbody tr').allTextContents();
    assert.match(rows[0], /updated.*amount: 60\.00 USD → 65\.00 USD/);
  });

  await scenario("see a refusal's bank answer in the timeline", async () => {
    await page.goto(`${BASE}/console/#/transfers/${ids.declined}`);
    // Its day of the month is start_date's (the API answers null): today's.
    const day = Number(env('RT_TODAY').slice(8));
    await page.locator('#schedule-words').getByText(new RegExp(`^${day}(st|nd|rd|th) of every month at 00:00 UTC$`)).waitFor();
    const box = page.locator('details[data-job="1"]');
    await box.locator('summary').click();
    const answer = box.locator('.timeline li').first();
    await answer.waitFor();
    assert.match(await answer.textContent(), /HTTP 422/);
    assert.match(await answer.locator('pre.raw').textContent(), /insufficient_funds/);
    await shot(page, 'transfer-refusal');
  });

  await scenario('retry a FAILED job and watch it finish', async () => {
    await page.getByRole('link', {name: 'Failed and retrying'}).click();
    const row = page.locator('#job-list tbody tr').filter({hasText: ids.failed.slice(0, 13)});
    await row.waitFor();
    await accessible(page, 'failed jobs');
    await shot(page, 'failed-jobs');
    await row.getByRole('checkbox').check();
    await page.getByRole('button', {name: 'Retry selected'}).click();
    await confirm(page);
    await page.locator('#jobs-status').getByText('1 job queued for a retry.').waitFor();
    await page.goto(`${BASE}/console/#/transfers/${ids.failed}`);
    // The retry loop calls the bank again; the page shows the job when reloaded.
    const deadline = Date.now() + 30000;
    for (;;) {
      await page.locator('#jobs tbody tr').first().waitFor();
      const status = await page.locator('#jobs tbody tr').first().locator('.status').first().textContent();
      if (status === 'FINISHED') break;
      assert.ok(Date.now() < deadline, `the retried job is still ${status}`);
      await page.getByRole('link', {name: 'Failed and retrying'}).click();
      await page.goto(`${BASE}/console/#/transfers/${ids.failed}`);
    }
    await page.locator('#jobs tbody tr').first().getByText('SUCCEEDED').waitFor();
  });

  await scenario('a description holding markup shows as text (the transfer found by its id)', async () => {
    await page.getByRole('link', {name: 'Transfers'}).click();
    await page.getByLabel('Transfer id').fill(ids.xss);
    await page.getByRole('button', {name: 'Search'}).click();
    await page.getByRole('heading', {name: `Transfer ${ids.xss}`}).waitFor();
    const description = page.locator('#description');
    await description.waitFor();
    assert.equal(await description.textContent(), env('XSS_TEXT'));
    assert.equal(await description.locator('script, img').count(), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    await page.getByRole('link', {name: 'Transfers'}).click();
    await page.getByLabel('External id').fill('');
    await page.getByLabel('Account (source or destination)').fill('acc_xss');
    await page.getByRole('button', {name: 'Search'}).click();
    await page.locator('#results tbody tr').first().getByText(env('XSS_TEXT')).waitFor();
    assert.equal(await page.evaluate(() => window.__xss), undefined);
  });

  await scenario('backups: history and run now', async () => {
    await page.getByRole('link', {name: 'Backups'}).click();
    await page.getByRole('button', {name: 'Run backup now'}).waitFor();
    await accessible(page, 'backups');
    await page.getByRole('button', {name: 'Run backup now'}).click();
    await confirm(page);
    await page.locator('#backup-status .success').filter({hasText: /Backup \S+ (?!running)\w+\./}).filter({hasNotText: 'started'}).waitFor();
    await shot(page, 'backups');
  });

  await scenario(`the first load shows a page of ${process.env.SEEDED} transfers in under ${MAX_FIRST_LOAD_MS} ms`, async () => {
    const fresh = await browser.newContext();
    await fresh.addInitScript((token) => sessionStorage.setItem('rtjobs.console.token', token), TOKEN);
    const p = await fresh.newPage();
    await p.goto(`${BASE}/console/#/transfers`);
    await p.locator('#results tbody tr').first().waitFor();
    const shown = await p.evaluate(() => performance.now());  // since the navigation started
    const nav = await p.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
    console.log(`     load event ${Math.round(nav.loadEventEnd)} ms, first page of transfers shown at ${Math.round(shown)} ms`);
    assert.ok(nav.loadEventEnd < MAX_FIRST_LOAD_MS, `load event at ${nav.loadEventEnd} ms`);
    assert.ok(shown < MAX_FIRST_LOAD_MS, `transfers shown at ${shown} ms`);
    await fresh.close();
  });

  assert.deepEqual(pageErrors, [], 'errors in the page');
  await browser.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
