// How values read on the page: money from minor units, instants in UTC, schedules in words.

const exponents = new Map();  // a NumberFormat costs milliseconds to build: one per currency

// Digits after the decimal point of a currency (2 for USD, 0 for JPY).
export function exponent(currency) {
  if (!exponents.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat('en-US', {style: 'currency', currency}).resolvedOptions().maximumFractionDigits;
    } catch {
      // an unknown code: shown with 2 digits
    }
    exponents.set(currency, digits);
  }
  return exponents.get(currency);
}

// 123456 USD -> "1,234.56 USD" (integers only: no floating point on money).
export function money(minor, currency) {
  const e = exponent(currency);
  const negative = minor < 0;
  const digits = String(Math.abs(minor)).padStart(e + 1, '0');
  const whole = digits.slice(0, digits.length - e).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const fraction = e ? `.${digits.slice(digits.length - e)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction} ${currency}`;
}

// "60.5" in USD -> 6050; null when the text is not an amount with at most the currency's digits.
export function parseMoney(text, currency) {
  const e = exponent(currency);
  const m = /^\s*(\d{1,15})(?:\.(\d*))?\s*$/.exec(text.replace(/,/g, ''));
  if (!m || (m[2] || '').length > e) return null;
  const minor = Number(m[1] + (m[2] || '').padEnd(e, '0'));
  return Number.isSafeInteger(minor) && minor > 0 ? minor : null;
}

// "2026-03-10T09:00:00.123Z" -> "2026-03-10 09:00:00 UTC".
export function instant(text) {
  if (!text) return '—';
  return text.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') + ' UTC';
}

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];

export function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({1: 'st', 2: 'nd', 3: 'rd'}[n % 10] || 'th');
  return `${n}${suffix}`;
}

// day_of_month as words: 15 -> "15th", -1 -> "last day", -2 -> "2nd-to-last day".
function dayOfMonth(d) {
  if (d === -1) return 'last day';
  if (d < 0) return `${ordinal(-d)}-to-last day`;
  return ordinal(d);
}

const BUSINESS_DAY = {FOLLOWING: 'following', PRECEDING: 'preceding',
  MODIFIED_FOLLOWING: 'modified following'};

// A schedule as SPEC section 3 defines it, in words: "last day of every month at 09:30
// America/New_York, following business day (calendar WEEKENDS)". day_of_week, day_of_month and
// month are null in the API's answer when the client left them to start_date's.
export function scheduleWords(schedule) {
  const [year, month, day] = schedule.start_date.split('-').map(Number);
  const isoWeekday = ((new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7) + 1;
  const s = {...schedule, day_of_week: schedule.day_of_week ?? isoWeekday,
    day_of_month: schedule.day_of_month ?? day, month: schedule.month ?? month};
  const n = s.interval || 1;
  const every = (unit) => (n === 1 ? `every ${unit}` : `every ${n} ${unit}s`);
  let rule;
  switch (s.frequency) {
    case 'DAILY':
      rule = every('day');
      break;
    case 'WEEKLY':
      rule = n === 1 ? `every ${WEEKDAYS[s.day_of_week - 1]}`
        : `${every('week')} on ${WEEKDAYS[s.day_of_week - 1]}`;
      break;
    case 'MONTHLY':
      rule = `${dayOfMonth(s.day_of_month)} of ${n === 1 ? 'every month' : every('month')}`;
      break;
    case 'YEARLY':
      rule = `${dayOfMonth(s.day_of_month)} of ${MONTHS[s.month - 1]}, ${every('year')}`;
      break;
    default:
      rule = String(s.frequency);
  }
  let words = `${rule} at ${s.execution_time} ${s.timezone}`;
  if (BUSINESS_DAY[s.business_day]) {
    words += `, ${BUSINESS_DAY[s.business_day]} business day (calendar ${s.calendar})`;
  }
  return words;
}

// The schedule's bounds in words: "from 2026-01-31 until 2026-12-31, at most 12 times".
export function scheduleBounds(s) {
  let words = `from ${s.start_date}`;
  if (s.end_date) words += ` until ${s.end_date}`;
  if (s.count) words += `, at most ${s.count} time${s.count === 1 ? '' : 's'}`;
  return words;
}
