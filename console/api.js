// The console's API client: the operator's token lives in sessionStorage (this tab only, gone
// when it closes; no cookie, so no request carries it unless this code adds it) and goes out as
// the Authorization header of every call.
const KEY = 'rtjobs.console.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (token) => sessionStorage.setItem(KEY, token),
  signOut: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body === 'object' && body.error ? body.error : {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || null;
    this.field = error.field || null;
  }
}

// Listeners called when the server refuses the token (401): the app shows the sign-in form.
const onUnauthorized = [];
export function whenUnauthorized(f) { onUnauthorized.push(f); }

// Calls the API; resolves {data, headers} on 2xx, rejects with an ApiError otherwise.
export async function api(method, path, options = {}) {
  const headers = {Accept: 'application/json', ...(options.headers || {})};
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, {method, headers, body, cache: 'no-store', credentials: 'omit'});
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (response.status === 401 && !options.quiet401) onUnauthorized.forEach((f) => f());
  if (!response.ok) throw new ApiError(response.status, data);
  return {data, headers: response.headers};
}

export const get = (path, options) => api('GET', path, options).then((r) => r.data);
export const post = (path, body) => api('POST', path, {body: body ?? {}}).then((r) => r.data);

// A query string of the non-empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// An error as the operator reads it.
export function describe(e) {
  if (e instanceof ApiError) return `${e.message} (HTTP ${e.status}${e.code ? `, ${e.code}` : ''}${e.field ? `, field ${e.field}` : ''})`;
  return `The server could not be reached: ${e.message}`;
}
