// Unit tests of the console's wording and money (console/format.js), run by ctest
// (console_format_unit) with Node's own test runner.
import assert from 'node:assert/strict';
import test from 'node:test';
import {money, parseMoney, scheduleBounds, scheduleWords} from '../../console/format.js';

const base = {interval: 1, timezone: 'UTC', execution_time: '00:00', business_day: 'NONE', calendar: 'WEEKENDS', start_date: '2026-01-31'};

test('schedules in words', () => {
  const cases = [
    [{frequency: 'MONTHLY', day_of_month: -1, execution_time: '09:30', timezone: 'America/New_York', business_day: 'FOLLOWING'},
      'last day of every month at 09:30 America/New_York, following business day (calendar WEEKENDS)'],
    [{frequency: 'MONTHLY', day_of_month: 15, interval: 3}, '15th of every 3 months at 00:00 UTC'],
    [{frequency: 'MONTHLY', day_of_month: -2}, '2nd-to-last day of every month at 00:00 UTC'],
    [{frequency: 'MONTHLY', day_of_month: 1, business_day: 'MODIFIED_FOLLOWING', calendar: 'US_FEDERAL_RESERVE'},
      '1st of every month at 00:00 UTC, modified following business day (calendar US_FEDERAL_RESERVE)'],
    [{frequency: 'MONTHLY', day_of_month: 22, business_day: 'PRECEDING'}, '22nd of every month at 00:00 UTC, preceding business day (calendar WEEKENDS)'],
    [{frequency: 'DAILY'}, 'every day at 00:00 UTC'],
    [{frequency: 'DAILY', interval: 2}, 'every 2 days at 00:00 UTC'],
    [{frequency: 'WEEKLY', day_of_week: 5}, 'every Friday at 00:00 UTC'],
    [{frequency: 'WEEKLY', day_of_week: 1, interval: 2}, 'every 2 weeks on Monday at 00:00 UTC'],
    [{frequency: 'YEARLY', day_of_month: 29, month: 2}, '29th of February, every year at 00:00 UTC'],
    [{frequency: 'YEARLY', day_of_month: 11, month: 12, interval: 2}, '11th of December, every 2 years at 00:00 UTC'],
  ];
  for (const [schedule, words] of cases) assert.equal(scheduleWords({...base, ...schedule}), words);
  // Left to start_date (2026-01-31, a Saturday): the API answers null.
  const none = {day_of_week: null, day_of_month: null, month: null};
  assert.equal(scheduleWords({...base, ...none, frequency: 'MONTHLY'}), '31st of every month at 00:00 UTC');
  assert.equal(scheduleWords({...base, ...none, frequency: 'WEEKLY'}), 'every Saturday at 00:00 UTC');
  assert.equal(scheduleWords({...base, ...none, frequency: 'YEARLY'}), '31st of January, every year at 00:00 UTC');
  assert.equal(scheduleWords({...base, ...none, frequency: 'WEEKLY', start_date: '2026-12-07'}), 'every Monday at 00:00 UTC');
  assert.equal(scheduleBounds({...base}), 'from 2026-01-31');
  assert.equal(scheduleBounds({...base, end_date: '2026-12-31', count: 12}), 'from 2026-01-31 until 2026-12-31, at most 12 times');
  assert.equal(scheduleBounds({...base, count: 1}), 'from 2026-01-31, at most 1 time');
});

test('money from minor units and back, without floating point', () => {
  assert.equal(money(5000, 'USD'), '50.00 USD');
  assert.equal(money(123456789, 'USD'), '1,234,567.89 USD');
  assert.equal(money(5, 'USD'), '0.05 USD');
  assert.equal(money(5000, 'JPY'), '5,000 JPY');
  assert.equal(parseMoney('60', 'USD'), 6000);
  assert.equal(parseMoney('60.5', 'USD'), 6050);
  assert.equal(parseMoney('1,234.56', 'USD'), 123456);
  assert.equal(parseMoney('0.07', 'USD'), 7);
  for (const bad of ['', '0', '1.234', '-5', 'abc', '1e3', '0.00']) assert.equal(parseMoney(bad, 'USD'), null, bad);
  assert.equal(parseMoney('12', 'JPY'), 12);
  assert.equal(parseMoney('12.5', 'JPY'), null);
});
