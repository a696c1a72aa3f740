// Every page, every role, in headless Chromium: axe-core (WCAG 2.0/2.1 A and AA), page
// structure, reflow at 375 px and 200 % zoom, screenshots; and a whole module taken with
// the keyboard alone. Run by scripts/test (REPERES_BIN names the service binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import {
  ROOT, startService, launchBrowser, audit, describe, assertAccessible, assertStructure,
  screenshotsAndReflow, signIn, links,
} from './harness.mjs';

const MAX_PAGES_PER_ROLE = 250;
let service;
let browser;
const started = Date.now();
const covered = {};
const screenshotted = new Set();
const reflowProblems = [];

before(async () => {
  service = await startService();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await service?.stop();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`pages covered per role: ${JSON.stringify(covered)}; harness time ${seconds} s`);
});

/** Audits the page the browser shows now, and screenshots it once per path. */
async function check(page, path, who, failures) {
  try {
    await assertStructure(page, `${path} (${who})`);
  } catch (e) {
    failures.push(e.message);
  }
  const violations = await audit(page);
  if (violations.length) failures.push(describe(`${path} (${who})`, violations));
  if (!screenshotted.has(path)) {
    screenshotted.add(path);
    reflowProblems.push(...(await screenshotsAndReflow(page, path)));
  }
}

test('the harness fails on a page that breaks a rule (image without alt)', async () => {
  const page = await browser.newPage({ bypassCSP: true });
  await page.setContent(readFileSync(join(ROOT, 'tests/browser/fixtures/image-without-alt.html'), 'utf8'));
  const violations = await audit(page);
  assert.ok(violations.some((v) => v.id === 'image-alt'), `image-alt expected, got ${violations.map((v) => v.id)}`);
  await assert.rejects(assertAccessible(page, 'fixture'), /image-alt/);
  await page.close();
});

test('public and error pages, signed out', async () => {
  const page = await browser.newPage({ bypassCSP: true });
  const failures = [];
  const cases = [
    ['/connexion', 200],
    ['/accessibilite', 200],
    ['/modules', 401],
    ['/page-qui-n-existe-pas', 404],
  ];
  for (const [path, status] of cases) {
    const res = await page.goto(service.base + path);
    assert.equal(res.status(), status, path);
    await check(page, path === '/modules' ? '/erreur-401' : path === '/page-qui-n-existe-pas' ? '/erreur-404' : path, 'anonyme', failures);
  }
  // A partner asks for a sign-in link: the development mailbox of a debug build shows it.
  await page.goto(service.base + '/connexion');
  await page.fill('#email', 'aicha.diallo@demo.reperes.test');
  await page.click('form[action="/connexion/lien"] button[type=submit]');
  let message = null;
  for (let i = 0; i < 30 && !message; i += 1) {
    await page.goto(service.base + '/dev/courriels');
    message = await page.$eval('main a[href^="/dev/courriels/"]', (a) => a.getAttribute('href')).catch(() => null);
    if (!message) await page.waitForTimeout(500);
  }
  assert.ok(message, 'the sign-in link reaches the development mailbox');
  await check(page, '/dev/courriels', 'anonyme', failures);
  await page.goto(service.base + message);
  await check(page, '/dev/courriels/{courriel}', 'anonyme', failures);
  covered.anonyme = cases.length + 2;
  await page.close();
  assert.deepEqual(failures, [], failures.join('\n'));
});

// ---- keyboard only (before the crawl, which reads every lesson as every person) ----

async function focused(page) {
  return page.evaluate(() => {
    const e = document.activeElement;
    if (!e || e === document.body) return { none: true };
    const s = getComputedStyle(e);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
    return {
      tag: e.tagName.toLowerCase(),
      text: (e.innerText || e.value || e.getAttribute('aria-label') || '').trim().slice(0, 80),
      id: e.id,
      visible: outline || (s.boxShadow && s.boxShadow !== 'none'),
      skip: e.classList.contains('skip-link'),
    };
  });
}

/** Presses Tab (or Shift+Tab) until `want` matches the focused element. Fails on a focus
 * that cannot be seen, and after `max` presses (a trap, or a missing element). */
async function tabTo(page, want, { max = 120, back = false } = {}) {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused(page);
    if (f.none) continue;
    assert.ok(f.visible, `focus not visible on <${f.tag}> "${f.text}" at ${page.url()}`);
    if (want(f)) return f;
  }
  throw new Error(`no focusable element matched after ${max} presses on ${page.url()}`);
}

/** After a page change, the first Tab lands on the skip link. */
async function expectFreshFocus(page) {
  const f = await tabTo(page, () => true, { max: 1 });
  assert.ok(f.skip, `first Tab after loading ${page.url()} went to <${f.tag}> "${f.text}"`);
}

/** Tabbing forward goes round the whole page and comes back: no keyboard trap. */
async function expectNoTrap(page) {
  await page.keyboard.press('Tab');
  const start = await focused(page);
  for (let i = 0; i < 400; i += 1) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (f.skip || f.none) return;
  }
  throw new Error(`keyboard trap on ${page.url()} (started at "${start.text}")`);
}

async function activate(page, want) {
  await tabTo(page, want);
  await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
  await expectFreshFocus(page);
}

function rightAnswers(slug) {
  const quiz = parseToml(readFileSync(join(ROOT, 'courses', slug, 'quiz.toml'), 'utf8'));
  const answers = {};
  for (const pool of quiz.pools) {
    for (const q of pool.questions) {
      if (q.kind === 'true_false') answers[q.id] = [q.answer ? 'vrai' : 'faux'];
      else if (q.kind === 'scenario') answers[q.id] = [q.options.find((o) => o.grade === 'appropriate').id];
      else answers[q.id] = q.options.filter((o) => o.correct).map((o) => o.id);
    }
  }
  return answers;
}

test('a whole module with the keyboard alone', async () => {
  const slug = 'comprendre-les-discriminations';
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  const failures = [];
  await page.goto(`${service.base}/connexion`);
  await expectFreshFocus(page);
  await expectNoTrap(page);
  await activate(page, (f) => f.tag === 'button' && f.text === 'Se connecter comme Camille Martin');
  assert.match(page.url(), /\/modules$/);

  const title = await page.$eval(`a[href="/modules/${slug}"]`, (a) => a.textContent.trim());
  await activate(page, (f) => f.tag === 'a' && f.text === title);
  await expectNoTrap(page);
  // Skip link: Enter moves focus into the main content.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'contenu');
  await page.goto(page.url().split('#')[0]);
  await expectFreshFocus(page);

  await activate(page, (f) => f.tag === 'a' && f.text.startsWith('Commencer la première leçon'));
  for (;;) {
    await check(page, new URL(page.url()).pathname, 'clavier', failures);
    const next = await page.$('a[rel="next"]');
    if (!next) break;
    await activate(page, (f) => f.tag === 'a' && f.text.startsWith('Leçon suivante'));
  }
  await expectNoTrap(page);
  await activate(page, (f) => f.tag === 'a' && f.text.startsWith('Terminer et aller au quiz'));
  await activate(page, (f) => f.tag === 'button' && f.text === 'Commencer le quiz');
  assert.match(page.url(), /\/tentatives\/[0-9a-f-]+$/);
  await check(page, '/tentatives/quiz', 'clavier', failures);
  await expectNoTrap(page);

  // Answer every question: Tab into each group, arrows (radios) or Space (checkboxes).
  const answers = rightAnswers(slug);
  const questions = await page.$$eval('fieldset.question', (fs) => fs.map((f) => ({
    id: f.id.replace(/^question-/, ''),
    multiple: !!f.querySelector('input[type=checkbox]'),
    options: [...f.querySelectorAll('input')].map((i) => i.value),
  })));
  await page.goto(page.url()); // start again from the top of the page
  for (const q of questions) {
    const want = answers[q.id];
    assert.ok(want, `question ${q.id} not found in the course file`);
    await tabTo(page, (f) => f.tag === 'input' && f.id === `q-${q.id}-${q.options[0]}`);
    if (q.multiple) {
      for (let i = 0; i < q.options.length; i += 1) {
        if (i > 0) await tabTo(page, (f) => f.id === `q-${q.id}-${q.options[i]}`, { max: 1 });
        if (want.includes(q.options[i])) await page.keyboard.press('Space');
      }
    } else {
      await page.keyboard.press('Space');
      const target = q.options.indexOf(want[0]);
      for (let i = 0; i < target; i += 1) await page.keyboard.press('ArrowDown');
      const f = await focused(page);
      assert.equal(f.id, `q-${q.id}-${want[0]}`);
    }
  }
  const checked = await page.$$eval('input:checked', (is) => is.length);
  assert.ok(checked >= questions.length, `${checked} options checked for ${questions.length} questions`);
  await activate(page, (f) => f.tag === 'button' && f.text === 'Valider mes réponses');
  assert.match(page.url(), /\/resultat$/);
  const verdict = await page.$eval('.result-verdict', (p) => p.textContent);
  assert.match(verdict, /Réussi/);
  await check(page, '/tentatives/resultat', 'clavier', failures);
  await expectNoTrap(page);
  await activate(page, (f) => f.tag === 'a' && f.text === 'Ma progression');
  const row = await page.$eval(`a[href="/modules/${slug}"]`, (a) => a.closest('tr').innerText);
  assert.match(row, /Validé/);
  await context.close();
  assert.deepEqual(failures, [], failures.join('\n'));
});

/** The demo people listed on the sign-in page (one per role and audience). */
async function demoPeople() {
  const page = await browser.newPage({ bypassCSP: true });
  await page.goto(`${service.base}/connexion`);
  const names = await page.$$eval('form[action="/auth/dev"] .card-title', (ps) => ps.map((p) => p.textContent.trim()));
  await page.close();
  return names;
}

test('every page reachable from the navigation, for every demo person', async () => {
  const people = await demoPeople();
  assert.ok(people.length >= 6, `demo people: ${people}`);
  const failures = [];
  for (const name of people) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    const page = await context.newPage();
    await signIn(page, service.base, name);
    const queue = ['/modules'];
    const seen = new Set(queue);
    let visited = 0;
    while (queue.length && visited < MAX_PAGES_PER_ROLE) {
      const path = queue.shift();
      const res = await page.goto(service.base + path);
      visited += 1;
      if (res.status() !== 200) failures.push(`${path} (${name}): status ${res.status()}`);
      await check(page, path, name, failures);
      for (const next of await links(page, service.base)) {
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    assert.ok(visited < MAX_PAGES_PER_ROLE, `${name}: more than ${MAX_PAGES_PER_ROLE} pages, raise the bound`);
    covered[name] = visited;
    await context.close();
  }
  assert.deepEqual(failures, [], failures.join('\n'));
});

test('nothing overflows at 375 px or at 200 % zoom', () => {
  assert.ok(screenshotted.size > 10, `only ${screenshotted.size} pages screenshotted`);
  assert.deepEqual(reflowProblems, [], reflowProblems.join('\n'));
});
