'use strict';
// Small declarative field checker shared by the four banks. Each bank turns the list of
// problems it returns into its own error shape, so the rules live in one place and the wording
// of the errors stays each bank's.
//
// A rule is {type, required, minLength, maxLength, min, max, enum, pattern, patternText, check}.
// `type` is one of string, integer, boolean, object, array. `null` is never accepted for a
// typed field: the banks document omitting optional fields, not sending null, and the fake takes
// the harsher reading.

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeMatches(v, type) {
  switch (type) {
    case 'string': return typeof v === 'string';
    // JSON has one number type; an "integer" is a number without a fraction that JavaScript
    // can hold exactly (so 50.5, "50" and 1e300 are all refused).
    case 'integer': return Number.isSafeInteger(v);
    case 'boolean': return typeof v === 'boolean';
    case 'object': return isPlainObject(v);
    case 'array': return Array.isArray(v);
    default: throw new Error(`unknown rule type ${type}`);
  }
}

// Lengths are counted in Unicode code points, which is how a person reads "10 characters".
function length(s) {
  return [...s].length;
}

// Returns a message, or null when v satisfies rule r.
function checkValue(v, r) {
  if (!typeMatches(v, r.type)) return `must be ${r.type === 'integer' ? 'an' : 'a'} ${r.type}`;
  if (r.type === 'string') {
    if (r.minLength !== undefined && length(v) < r.minLength)
      return r.minLength === 1 ? 'must not be empty' : `must be at least ${r.minLength} characters`;
    if (r.maxLength !== undefined && length(v) > r.maxLength)
      return `must be at most ${r.maxLength} characters`;
  }
  if (r.type === 'integer') {
    if (r.min !== undefined && v < r.min) return `must be at least ${r.min}`;
    if (r.max !== undefined && v > r.max) return `must be at most ${r.max}`;
  }
  if (r.enum && !r.enum.includes(v)) return `must be one of ${r.enum.join(', ')}`;
  if (r.pattern && !r.pattern.test(v)) return r.patternText || 'has an invalid format';
  if (r.check) return r.check(v) || null;
  return null;
}

// Checks obj against rules: unknown fields, missing required fields, then each value.
// Returns [{field, message}] (empty when valid). `prefix` names nested fields ("data.attributes.").
function checkFields(obj, rules, prefix = '') {
  const problems = [];
  for (const k of Object.keys(obj)) {
    if (!Object.prototype.hasOwnProperty.call(rules, k))
      problems.push({ field: prefix + k, message: 'is not a recognized parameter' });
  }
  for (const [k, r] of Object.entries(rules)) {
    const v = obj[k];
    if (v === undefined) {
      if (r.required) problems.push({ field: prefix + k, message: 'is required' });
      continue;
    }
    const msg = checkValue(v, r);
    if (msg) problems.push({ field: prefix + k, message: msg });
  }
  return problems;
}

// "exactly one of a, b must be present"; returns a problem or null.
function exactlyOne(obj, a, b, prefix = '') {
  const n = (obj[a] !== undefined ? 1 : 0) + (obj[b] !== undefined ? 1 : 0);
  if (n === 1) return null;
  return { field: prefix + a, message: n === 0 ? `or ${b} is required` : `and ${b} cannot both be given` };
}

// A calendar date YYYY-MM-DD that exists (2024-02-30 is refused).
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
function checkDate(v) {
  const m = DATE.exec(v);
  if (!m) return 'must be a date YYYY-MM-DD';
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 ||
      d.getUTCDate() !== Number(m[3]))
    return 'must be a real calendar date';
  return null;
}

// JSON with object keys sorted at every level: two bodies that differ only in key order or
// white space are "the same request" for idempotency.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

module.exports = { isPlainObject, checkFields, checkValue, exactlyOne, checkDate, canonical, length };
