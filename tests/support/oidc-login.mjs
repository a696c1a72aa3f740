#!/usr/bin/env node
// Plays the user's browser against `oidc-provider.mjs`, without a browser.
//
// Usage:
//   node oidc-login.mjs AUTHORIZE_URL USERNAME [--deny]
//
// Starts at AUTHORIZE_URL (the provider URL the app redirected the browser
// to), follows the provider's redirects with its own cookie jar, fills the
// login form with USERNAME (and some password), grants consent, and stops at
// the first redirect that leaves the provider: a Location that starts with the
// authorize request's redirect_uri, or that points to another origin.
// Prints that URL on stdout (one line) and exits 0.
//
// --deny: refuses instead (the page's "Refuser" form), so the provider sends
// the browser back to the redirect URI with error=access_denied and the state.
//
// On any failure: the reason on stderr, exit 1. Usage errors: exit 2.

import process from 'node:process';

const MAX_STEPS = 20;
const TIMEOUT_MS = 10_000;

function fail(message) {
  process.stderr.write(`oidc-login.mjs: ${message}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------
// Arguments

const positional = [];
let deny = false;
for (const arg of process.argv.slice(2)) {
  if (arg === '--deny') deny = true;
  else if (arg.startsWith('--')) {
    process.stderr.write(`oidc-login.mjs: unknown option ${arg}\nusage: node oidc-login.mjs AUTHORIZE_URL USERNAME [--deny]\n`);
    process.exit(2);
  } else positional.push(arg);
}
if (positional.length !== 2) {
  process.stderr.write('usage: node oidc-login.mjs AUTHORIZE_URL USERNAME [--deny]\n');
  process.exit(2);
}
const [authorizeUrlArg, username] = positional;

let authorizeUrl;
try {
  authorizeUrl = new URL(authorizeUrlArg);
} catch {
  fail(`not an absolute URL: ${authorizeUrlArg}`);
}
const providerOrigin = authorizeUrl.origin;
const redirectUri = authorizeUrl.searchParams.get('redirect_uri');

// ---------------------------------------------------------------------------
// Cookie jar: one origin (the provider's), honours Path, Max-Age and Expires.

const jar = new Map(); // `${name}\0${path}` -> { name, value, path, expires }

function defaultPath(url) {
  const p = url.pathname;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function storeCookies(res, url) {
  const lines = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
  for (const line of lines) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = defaultPath(url);
    let expires = Infinity;
    for (const attr of attrs) {
      const [k, ...rest] = attr.split('=');
      const key = k.trim().toLowerCase();
      const v = rest.join('=').trim();
      if (key === 'path' && v.startsWith('/')) path = v;
      else if (key === 'max-age' && /^-?\d+$/.test(v)) expires = Date.now() + Number(v) * 1000;
      else if (key === 'expires' && expires === Infinity) {
        const t = Date.parse(v);
        if (!Number.isNaN(t)) expires = t;
      }
    }
    const id = `${name}\0${path}`;
    if (expires <= Date.now()) jar.delete(id);
    else jar.set(id, { name, value, path, expires });
  }
}

function pathMatches(cookiePath, requestPath) {
  if (cookiePath === requestPath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function cookieHeader(url) {
  const now = Date.now();
  const matching = [...jar.values()]
    .filter((c) => c.expires > now && pathMatches(c.path, url.pathname))
    .sort((a, b) => b.path.length - a.path.length);
  return matching.map((c) => `${c.name}=${c.value}`).join('; ');
}

async function request(url, { method = 'GET', form } = {}) {
  if (url.origin !== providerOrigin) fail(`refusing to send a request off the provider: ${url.href}`);
  const headers = { accept: 'text/html', 'user-agent': 'reperes-oidc-login/1' };
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  let res;
  try {
    res = await fetch(url, {
      method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    fail(`${method} ${url.href}: ${err.cause?.message || err.message}`);
  }
  storeCookies(res, url);
  return res;
}

// ---------------------------------------------------------------------------
// A tiny HTML form reader: enough for the provider's own pages.

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|#39|apos);/gi, (m, e) => {
    const k = e.toLowerCase();
    if (k === 'amp') return '&';
    if (k === 'lt') return '<';
    if (k === 'gt') return '>';
    if (k === 'quot') return '"';
    if (k === 'apos' || k === '#39') return "'";
    if (k.startsWith('#x')) return String.fromCodePoint(parseInt(k.slice(2), 16));
    if (k.startsWith('#')) return String.fromCodePoint(parseInt(k.slice(1), 10));
    return m;
  });
}

function attrs(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  // skip the tag name
  const inner = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(inner))) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

function parseForms(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = formRe.exec(html))) {
    const open = m[0].match(/^<form\b[^>]*>/i)[0];
    const a = attrs(open);
    const inputs = [];
    for (const tag of m[1].match(/<input\b[^>]*>/gi) || []) inputs.push(attrs(tag));
    const buttons = (m[1].match(/<button\b[^>]*>[\s\S]*?<\/button>/gi) || [])
      .map((b) => b.replace(/<[^>]*>/g, '').trim());
    forms.push({
      id: a.id || '',
      action: a.action || '',
      method: (a.method || 'get').toUpperCase(),
      inputs,
      buttons,
    });
  }
  return forms;
}

function pageText(html) {
  const error = html.match(/<div id="error">([\s\S]*?)<\/div>/i);
  const text = (error ? error[1] : html)
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return decodeEntities(text).slice(0, 500);
}

const isAbort = (f) => f.id === 'abort' || /\/abort$/.test(f.action);
const isLogin = (f) => f.inputs.some((i) => (i.type || 'text') === 'password')
  || f.inputs.some((i) => ['username', 'login'].includes(i.name));
const isConsent = (f) => f.id === 'confirm' || /\/confirm$/.test(f.action);

function fillLogin(form) {
  const values = {};
  for (const input of form.inputs) {
    if (!input.name) continue;
    const type = (input.type || 'text').toLowerCase();
    if (type === 'password') values[input.name] = 'mot-de-passe';
    else if (['username', 'login', 'email'].includes(input.name)) values[input.name] = username;
    else if (type === 'checkbox' || type === 'radio') { if ('checked' in input) values[input.name] = input.value || 'on'; } else values[input.name] = input.value ?? '';
  }
  return values;
}

function hiddenValues(form) {
  const values = {};
  for (const input of form.inputs) {
    if (input.name && (input.type || 'text').toLowerCase() === 'hidden') values[input.name] = input.value ?? '';
  }
  return values;
}

function leavesProvider(location) {
  if (redirectUri && location.href.startsWith(redirectUri)) return true;
  return location.origin !== providerOrigin;
}

// ---------------------------------------------------------------------------
// The walk.

let url = authorizeUrl;
let method = 'GET';
let form;
let loggedIn = false;

for (let step = 0; step < MAX_STEPS; step += 1) {
  const res = await request(url, { method, form });

  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location');
    if (!location) fail(`${res.status} from ${url.href} without a Location`);
    const next = new URL(location, url);
    if (leavesProvider(next)) {
      process.stdout.write(`${next.href}\n`);
      process.exit(0);
    }
    url = next;
    method = 'GET';
    form = undefined;
    continue;
  }

  const body = await res.text();
  if (res.status !== 200) {
    fail(`${method} ${url.pathname} answered ${res.status}: ${pageText(body)}`);
  }

  const forms = parseForms(body);
  let chosen;
  if (deny) {
    chosen = forms.find(isAbort);
    if (!chosen) fail(`no refusal form on ${url.pathname}: ${pageText(body)}`);
    form = hiddenValues(chosen);
  } else if ((chosen = forms.find((f) => isLogin(f) && !isAbort(f)))) {
    if (loggedIn) fail(`login form shown again after logging in as ${username}: ${pageText(body)}`);
    loggedIn = true;
    form = fillLogin(chosen);
  } else if ((chosen = forms.find((f) => isConsent(f)))) {
    form = hiddenValues(chosen);
  } else {
    fail(`unexpected page at ${url.pathname} (no login or consent form): ${pageText(body)}`);
  }

  url = new URL(chosen.action || url.href, url);
  method = chosen.method === 'POST' ? 'POST' : 'GET';
  if (method === 'GET') {
    for (const [k, v] of Object.entries(form)) url.searchParams.set(k, v);
    form = undefined;
  }
}

fail(`gave up after ${MAX_STEPS} steps without leaving the provider (last: ${url.href})`);
