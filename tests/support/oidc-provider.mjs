#!/usr/bin/env node
// A real OpenID Connect provider (oidc-provider v9) on loopback, for the
// Rust integration tests of Repères.
//
// Usage:
//   node oidc-provider.mjs --port PORT --redirect-uri URI [--redirect-uri URI2 ...]
//                          [--client-secret SECRET]
//
// Prints exactly one line `READY http://127.0.0.1:PORT` on stdout once it
// listens (the issuer). `--port 0` picks a free port; the READY line then
// tells which one. Runs until SIGTERM/SIGINT, then exits 0.
//
// Everything else it prints (oidc-provider notices, request errors) goes to
// stderr, so stdout carries only the READY line.
//
// The interaction pages (login, consent) are this file's own minimal HTML
// forms, not oidc-provider's devInteractions: see `oidc-login.mjs`, which
// fills them in like a person would.

import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

// ---------------------------------------------------------------------------
// Arguments

function usage(message) {
  if (message) console.error(`oidc-provider.mjs: ${message}`);
  console.error('usage: node oidc-provider.mjs --port PORT --redirect-uri URI [--redirect-uri URI2 ...] [--client-secret SECRET]');
  process.exit(2);
}

function parseArgs(argv) {
  const out = { port: undefined, redirectUris: [], clientSecret: 'test-secret' };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      i += 1;
      if (i >= argv.length) usage(`${flag} needs a value`);
      return argv[i];
    };
    switch (flag) {
      case '--port': out.port = value(); break;
      case '--redirect-uri': out.redirectUris.push(value()); break;
      case '--client-secret': out.clientSecret = value(); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${arg}`);
    }
  }
  if (out.port === undefined || !/^\d+$/.test(out.port) || Number(out.port) > 65535) usage('--port PORT is required (0..65535)');
  out.port = Number(out.port);
  if (out.redirectUris.length === 0) usage('--redirect-uri URI is required');
  for (const uri of out.redirectUris) {
    try { new URL(uri); } catch { usage(`--redirect-uri is not an absolute URL: ${uri}`); }
  }
  if (!out.clientSecret) usage('--client-secret must not be empty');
  return out;
}

const args = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------
// Fixed signing key: generated once with node:crypto (RSA 2048) and embedded,
// so the JWKS is the same at every start. Test-only key, never use elsewhere.

const SIGNING_KEY = {
  kty: "RSA",
  kid: "reperes-test-rs256",
  use: "sig",
  alg: "RS256",
  n: "hYT94AlI8ichKq7oTw9bz0wte_CGK1fFsHU-2N04z9Gj6lkhu6bUHsCzeQsY-MajctwHV0DrlhuHnIcmjtgyTsObu0oXSq6v_OZUPtBmJNEeB9C2cqgTZethKgWI83fTwQmYyii4PEiqOx8SFb4BSSa0e27RTm-wmrhpqeMyfb_2IknzTtxfPQVkQtpih9O-X9cZydhGY1Dfu_r612ecV-uIwJ2uoxraTtQt8CTcMeFAiY-rrTiS0HrX8PpMU7i_6RUwUoM9BsNzj1kH7gzciX51PoRiqMglgsfPjH5FIgTV3qSi3RUsy8qJN2GI4SacfXBJwSsFp7Em-RJM94IFIQ",
  e: "AQAB",
  d: "BgpRBT3Ln9osUnGCOfK7F7gzBeczh_9wW-jEn0FMIilc7dZQGTIAE6S_xHXqOyBFYbCu4QAjXZxA43sWaqJA4wuks8beIeH1ko6Fo30rDyGqEaFxYjjUqSjfsZZ5g8YufWOmlrKxOazx4pB9HCBcj4d25Rn2JxhqGBMdWJ2veZJ7tem134hoVcTmnfWCbBwkM_LcS3H7gP5lXx9tsJq2OffFZmBj_hZ2SWDDOlZmzc-M8cdUBZXGpNv-1rococ_hGC0IJNEaz9pWcu3pOr7AihJH-PZ6ijhYefxUvFdciPGEnRIeLRMxxftdNd2ACvjiFroBradRnFgRBQlAmkP3dw",
  p: "uyeBHohIlV_qFi8tQV3N1iTcqWmVDW8KQXrY2LqW5gkJbKR2JKUaYHL0oyO54iJHLjlpJXjmVVnRI14rh4myX5yMPAnOkr7ZXjwZH5sSH2_kzhLbQEDhWmTLrCou5hGt4cNCUm7ghMXK0ztl7PKsyfjSJzcOZkW-tsosRlNioqs",
  q: "tqKlnuO1hJIRAsuyRwB_8aJfHHcIq5R0lHs7ejmtdGHZxkUSTzFaQeRcDsEq2mHx4JQUslz6iVXL4Y39sfyfVLWipKhiRBvsPqICQexCOPpUcXxa0ZzMTBMFccVXBgtIrD7WcSOHLCykGJmPQOHyoPmbjYH7Lx6RXm4qkoE_V2M",
  dp: "axmwSkizQMgirY9R1pZXtLRjko9ZPNbOh6pFbcFZmUqSmhmDgnT5IzilxrYrKb1z_n_cLBWDulQr2pGJV4b1DMIJflIeZNvSiJrbxbp4JIVj6onf7mUykQgdheid7gsv9oJG8eWBlnmaGEdljLNTLkG2AbsAAobnHLOVoqkVSQE",
  dq: "axsjifT8pMyMkVkoKh-O6QRSRv0_5m_flpxWmy1sHc6symwDetH0nqPvoO-D1CKQmSX-pUOF4jigopyE5XbDcgg7Y9kkF9FQUMLuE_8cLxIPp6ZIFJmh7hNRpBEZIgBIFEudsygkw7FCYvLbYi-f_OulX-2Ug2On2Ps-mECYBwU",
  qi: "dNJG0hIDYX1d5IGrd7tYlK2mRT5wd5qSIj47flCOcQo0kAz4-X84bYckf83TSyIVYWdVZontMFqFZrd5IQFZ0oLv3CzDBWyplmi8Z7Xn92xAUwCB29YvPHmdHnT3Axjnz3Re9fdaXZsn6ijypmG4Prs-p7msNAoMF2JddXQ9DUw",
};

// ---------------------------------------------------------------------------
// Accounts. Login names map to fixed subjects; the subject is the accountId.

const ACCOUNTS = [
  {
    username: 'agent',
    sub: 'agent-0001',
    email: 'agent.accueil@ville.test',
    given_name: 'Nadia',
    family_name: 'Bouzid',
    groups: ['reperes-agents'],
  },
  {
    username: 'rh',
    sub: 'rh-0002',
    email: 'rh@ville.test',
    given_name: 'Thomas',
    family_name: 'Girard',
    groups: ['reperes-agents', 'reperes-rh'],
  },
  {
    username: 'admin',
    sub: 'admin-0003',
    email: 'admin@ville.test',
    given_name: 'Inès',
    family_name: 'Moreau',
    groups: ['reperes-admins'],
  },
  // Linking cases: an address the provider has not verified, a directory agent whose
  // name differs at the provider, and a partner's address.
  {
    username: 'nonverifie',
    sub: 'nv-0004',
    email: 'dora@ville.test',
    email_verified: false,
    given_name: 'Dora',
    family_name: 'Usurpée',
    groups: ['reperes-agents'],
  },
  {
    username: 'annuaire',
    sub: 'dir-0005',
    email: 'ines.dir@ville.test',
    given_name: 'Inès',
    family_name: 'Nom-Modifié',
    groups: ['reperes-agents'],
  },
  {
    username: 'partenaire',
    sub: 'pa-0006',
    email: 'aicha.diallo@demo.reperes.test',
    given_name: 'Aïcha',
    family_name: 'Diallo',
    groups: [],
  },
];

function lookupAccount(id) {
  return ACCOUNTS.find((a) => a.sub === id || a.username === id);
}

// Never returns undefined (undefined makes oidc-provider answer 500): an
// unknown id is an account that has a subject and no other claim.
async function findAccount(ctx, id) {
  const known = lookupAccount(id);
  const accountId = known ? known.sub : String(id);
  return {
    accountId,
    async claims(/* use, scope, claims, rejected */) {
      if (!known) return { sub: accountId };
      return {
        sub: accountId,
        email: known.email,
        email_verified: known.email_verified ?? true,
        name: `${known.given_name} ${known.family_name}`,
        given_name: known.given_name,
        family_name: known.family_name,
        groups: [...known.groups],
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Configuration

const clientFor = (clientId) => ({
  client_id: clientId,
  client_secret: args.clientSecret,
  // Registered as client_secret_basic; oidc-provider accepts the secret in
  // the form body (client_secret_post) as well for such a client.
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: args.redirectUris,
  // Logout may redirect back to any of the redirect URIs too.
  post_logout_redirect_uris: args.redirectUris,
  application_type: 'web',
});

const TTL = {
  AuthorizationCode: 60,
  AccessToken: 600,
  IdToken: 600,
  Interaction: 600,
  Session: 3600,
  Grant: 3600,
  RefreshToken: 3600,
  ClientCredentials: 600,
  DeviceCode: 600,
  BackchannelAuthenticationRequest: 600,
  PreAuthorizedCode: 600,
};

const htmlEscape = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>${htmlEscape(title)}</title></head>
<body>
<h1>${htmlEscape(title)}</h1>
${body}
</body>
</html>
`;
}

const configuration = {
  clients: [clientFor('reperes'), clientFor('autre-appli')],
  jwks: { keys: [SIGNING_KEY] },
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // The ID token itself carries the claims of the granted scopes.
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  cookies: {
    keys: ['reperes-test-cookie-key-1'],
  },
  ttl: Object.fromEntries(Object.entries(TTL).map(([k, v]) => [k, () => v])),
  clientBasedCORS: () => false,
  renderError(ctx, out /* , error */) {
    ctx.type = 'html';
    const rows = Object.entries(out)
      .map(([k, v]) => `<p><strong>${htmlEscape(k)}</strong>: <span class="${htmlEscape(k)}">${htmlEscape(v)}</span></p>`)
      .join('\n');
    ctx.body = page('Erreur', `<div id="error">\n${rows}\n</div>`);
  },
};

// ---------------------------------------------------------------------------
// Interaction pages: plain HTML forms.
//
//   GET  /interaction/:uid          login form, or consent form
//   POST /interaction/:uid/login    username=..&password=.. (any password)
//   POST /interaction/:uid/confirm  grants every requested scope and claim
//   POST /interaction/:uid/abort    the user refuses: error=access_denied

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function abortForm(uid) {
  return `<form id="abort" method="post" action="/interaction/${htmlEscape(uid)}/abort">
  <button type="submit">Refuser</button>
</form>`;
}

function loginPage(uid, params, error) {
  return page('Connexion', `${error ? `<p class="error">${htmlEscape(error)}</p>\n` : ''}<p>Application : <strong>${htmlEscape(params.client_id)}</strong></p>
<form id="login" method="post" action="/interaction/${htmlEscape(uid)}/login" autocomplete="off">
  <label>Identifiant <input type="text" name="username" required value="${htmlEscape(params.login_hint || '')}"></label>
  <label>Mot de passe <input type="password" name="password"></label>
  <button type="submit">Se connecter</button>
</form>
${abortForm(uid)}`);
}

function consentPage(uid, params, details) {
  const scopes = (details.missingOIDCScope || []).filter((s) => s !== 'openid');
  const claims = (details.missingOIDCClaims || [])
    .filter((c) => !['sub', 'sid', 'auth_time', 'acr', 'amr', 'iss'].includes(c));
  const list = (items) => items.map((i) => `<li>${htmlEscape(i)}</li>`).join('');
  return page('Autorisation', `<p>L'application <strong>${htmlEscape(params.client_id)}</strong> demande l'accès à :</p>
<ul class="scopes">${list(scopes)}</ul>
<ul class="claims">${list(claims)}</ul>
<form id="confirm" method="post" action="/interaction/${htmlEscape(uid)}/confirm">
  <button type="submit">Autoriser</button>
</form>
${abortForm(uid)}`);
}

function interactionRoutes(provider) {
  const pattern = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

  return async function interactions(ctx, next) {
    const match = pattern.exec(ctx.path);
    if (!match) return next();
    const [, uid, action] = match;

    ctx.set('cache-control', 'no-store');
    const expected = action ? 'POST' : 'GET';
    if (ctx.method !== expected) {
      ctx.status = 405;
      ctx.set('allow', expected);
      ctx.body = 'method not allowed';
      return undefined;
    }

    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Erreur', `<div id="error"><p><strong>error</strong>: <span class="error">invalid_request</span></p><p><strong>error_description</strong>: <span class="error_description">${htmlEscape(err.message)}</span></p></div>`);
      return undefined;
    }
    if (details.uid !== uid) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Erreur', '<div id="error"><p><strong>error</strong>: <span class="error">invalid_request</span></p><p><strong>error_description</strong>: <span class="error_description">interaction uid does not match its cookie</span></p></div>');
      return undefined;
    }

    const { prompt, params, session } = details;
    const finish = async (result, merge) => {
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
      ctx.status = 303;
      ctx.redirect(returnTo);
    };

    if (!action) {
      ctx.type = 'html';
      if (prompt.name === 'login') {
        ctx.body = loginPage(uid, params);
      } else if (prompt.name === 'consent') {
        ctx.body = consentPage(uid, params, prompt.details);
      } else {
        ctx.status = 501;
        ctx.body = page('Erreur', `<p>prompt ${htmlEscape(prompt.name)} non géré</p>`);
      }
      return undefined;
    }

    if (action === 'abort') {
      await finish({ error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
      return undefined;
    }

    const form = await readForm(ctx.req);

    if (action === 'login') {
      if (prompt.name !== 'login') {
        ctx.status = 400;
        ctx.body = 'not a login prompt';
        return undefined;
      }
      const username = (form.get('username') || '').trim();
      if (!username) {
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body = loginPage(uid, params, 'Identifiant requis');
        return undefined;
      }
      // Any password is accepted. Unknown usernames log in as a subject equal
      // to the username, with no other claim.
      const account = await findAccount(ctx, username);
      await finish({ login: { accountId: account.accountId } }, false);
      return undefined;
    }

    // action === 'confirm'
    if (prompt.name !== 'consent') {
      ctx.status = 400;
      ctx.body = 'not a consent prompt';
      return undefined;
    }
    const { details: missing } = prompt;
    let grant;
    if (details.grantId) {
      grant = await provider.Grant.find(details.grantId);
    }
    if (!grant) {
      grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    }
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scope.join(' '));
      }
    }
    const grantId = await grant.save();
    await finish({ consent: { grantId } }, true);
    return undefined;
  };
}

// ---------------------------------------------------------------------------
// Start: listen first (so `--port 0` works), then build the provider with the
// issuer that matches the port actually bound.

// oidc-provider prints its notices with console.info (stdout): keep stdout
// for the READY line only.
console.info = (...a) => console.error(...a);
console.log = (...a) => console.error(...a);

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));

server.on('error', (err) => {
  console.error(`oidc-provider.mjs: ${err.message}`);
  process.exit(1);
});

server.listen(args.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  let provider;
  try {
    provider = new Provider(issuer, configuration);
  } catch (err) {
    console.error(`oidc-provider.mjs: configuration rejected: ${err.message}`);
    process.exit(1);
  }
  provider.use(interactionRoutes(provider));
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));
  handler = provider.callback();
  process.stdout.write(`READY ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
