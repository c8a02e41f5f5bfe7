// Vexil admin UI: every call to the gateway goes through here. Only the
// documented APIs (docs/openapi.json): the platform API /v1 with the
// signed-in user's token (Authorization: Bearer, Vexil's extension) or an
// API key, the flag-service API for signing in, OFREP for evaluations and
// its change stream. The credential lives in sessionStorage (no cookie).

const STORE = 'vexil.credential';

export function credential() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || 'null');
  } catch (e) {
    return null;
  }
}

export function setCredential(c) {
  if (c) sessionStorage.setItem(STORE, JSON.stringify(c));
  else sessionStorage.removeItem(STORE);
}

// An API error: status, message, and the request field it names (or null).
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function authHeader(c) {
  return c.kind === 'token' ? `Bearer ${c.value}` : `ApiKey ${c.value}`;
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    // no JSON body
  }
  if (body && body.error) // platform: {error: {code, message, details}}
    return new ApiError(res.status, body.error.message,
      body.error.details && body.error.details.field);
  if (typeof body === 'string') // flag-service: a bare string
    return new ApiError(res.status, body, null);
  if (body && body.errorDetails) // OFREP
    return new ApiError(res.status, body.errorDetails, null);
  return new ApiError(res.status, `HTTP ${res.status}`, null);
}

// call('GET', '/v1/flags', {query, body, auth}): the parsed JSON (null for
// 204). A 401 on an authenticated call signs out (the token expired).
export async function call(method, path, opts = {}) {
  const c = credential();
  const headers = {};
  const auth = opts.auth !== false;
  if (opts.authorization) headers.Authorization = opts.authorization;
  else if (auth && c) headers.Authorization = authHeader(c);
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query))
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'The gateway cannot be reached', null);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && auth && !opts.authorization) onUnauthorized(err);
    throw err;
  }
  if (res.status === 204) return null;
  return res.json();
}

// Follows GET /ofrep/v1/events with the project's SDK key; fn(revision)
// on each event (its id is the project's revision). Returns a stop function. EventSource cannot send a header, so the
// stream is read with fetch.
export function follow(sdkKey, fn, onState) {
  let stopped = false, ctl = null, delay = 500;
  async function run() {
    while (!stopped) {
      ctl = new AbortController();
      try {
        const res = await fetch('/ofrep/v1/events', {
          headers: { Authorization: `Bearer ${sdkKey}`, Accept: 'text/event-stream' },
          signal: ctl.signal, credentials: 'omit', cache: 'no-store',
        });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onState(true);
        delay = 500;
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const id = /^id: *(\d+)/m.exec(ev);
            if (/^data:/m.test(ev)) fn(id ? Number(id[1]) : 0);
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      onState(false);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
  run();
  return () => {
    stopped = true;
    if (ctl) ctl.abort();
  };
}
