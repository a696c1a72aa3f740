// The browser harness: starts the real service, drives Debian's Chromium with
// playwright-core, and audits pages with axe-core. Nothing is fetched from the network.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = join(ROOT, 'screenshots');
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
export const WIDTHS = [375, 768, 1280];

function freePort() {
  return new Promise((ok, ko) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on('error', ko);
  });
}

/** Starts the service binary on a fresh SQLite database. */
export async function startService() {
  const bin = process.env.REPERES_BIN || join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'debug', 'reperes');
  if (!existsSync(bin)) throw new Error(`service binary not found: ${bin} (set REPERES_BIN or run cargo build)`);
  const dir = mkdtempSync(join(tmpdir(), 'reperes-browser-'));
  const port = await freePort();
  const env = {
    ...process.env,
    ROCKET_PORT: String(port),
    ROCKET_ADDRESS: '127.0.0.1',
    ROCKET_LOG_LEVEL: 'critical',
    REPERES_DATABASE_URL: `sqlite://${join(dir, 'browser.db')}`,
    REPERES_DEMO: 'true',
    REPERES_MAIL_FOLDER: join(dir, 'mails'),
  };
  const child = spawn(bin, [], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`the service did not answer within 30 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Runs axe-core with the WCAG 2.0/2.1 A and AA rules; returns its violations. */
export async function audit(page) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    await page.addScriptTag({ content: AXE_SOURCE });
  }
  const results = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    return axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
  }, WCAG_TAGS);
  return results.violations;
}

/** Describes violations: page, rule and elements, one line each. */
export function describe(where, violations) {
  return violations
    .flatMap((v) => v.nodes.map((n) => `${where}: [${v.id}] ${v.help} — ${n.target.join(' ')}`))
    .join('\n');
}

/** Fails with every violation of the page, named by page, rule and element. */
export async function assertAccessible(page, where) {
  const violations = await audit(page);
  if (violations.length > 0) {
    throw new Error(`accessibility violations:\n${describe(where, violations)}`);
  }
}

/** Structural checks that axe leaves to the author. */
export async function assertStructure(page, where) {
  const facts = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    h1: document.querySelectorAll('h1').length,
    skip: !!document.querySelector('a.skip-link[href="#contenu"]') && !!document.getElementById('contenu'),
    main: document.querySelectorAll('main').length,
    footerStatement: !!document.querySelector('footer a[href="/accessibilite"]'),
  }));
  const problems = [];
  if (facts.lang !== 'fr') problems.push(`lang is "${facts.lang}"`);
  if (facts.h1 !== 1) problems.push(`${facts.h1} h1 elements`);
  if (!facts.skip) problems.push('no skip link to #contenu');
  if (facts.main !== 1) problems.push(`${facts.main} main landmarks`);
  if (!facts.footerStatement) problems.push('no link to the accessibility statement in the footer');
  if (problems.length) throw new Error(`${where}: ${problems.join('; ')}`);
}

/** Horizontal overflow at the current viewport width, in CSS pixels (0 when none). */
export async function overflow(page) {
  return page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));
}

export function screenshotName(path, width) {
  const slug = path.replace(/^\//, '').replace(/[^a-zA-Z0-9_-]+/g, '_') || 'accueil';
  return join(SCREENSHOTS, `${slug}@${width}.png`);
}

/** Screenshots a page at every width and checks that nothing overflows at 375 px and at
 * 200 % zoom (640 CSS px for a 1280 px window). Leaves the viewport at 1280. */
export async function screenshotsAndReflow(page, path) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const problems = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: screenshotName(path, width), fullPage: true });
    const extra = await overflow(page);
    if (width === 375 && extra > 0) problems.push(`${path}: overflows by ${extra}px at 375px`);
  }
  await page.setViewportSize({ width: 640, height: 450 });
  const zoomed = await overflow(page);
  if (zoomed > 0) problems.push(`${path}: overflows by ${zoomed}px at 200 % zoom`);
  await page.setViewportSize({ width: 1280, height: 900 });
  return problems;
}

/** Signs in through the development sign-in page, as a person would. */
export async function signIn(page, base, name) {
  await page.goto(`${base}/connexion`);
  await page.getByRole('button', { name: `Se connecter comme ${name}` }).click();
  await page.waitForURL(`${base}/modules`);
}

/** Same-origin GET pages linked from the current page, as paths (downloads excluded: they
 * are files, not pages). */
export async function links(page, base) {
  const hrefs = await page.$$eval('a[href]:not([download])', (as) => as.map((a) => a.href));
  const out = new Set();
  for (const href of hrefs) {
    if (!href.startsWith(base)) continue;
    const url = new URL(href);
    const path = url.pathname;
    if (path.startsWith('/static/') || path.startsWith('/api/') || path.startsWith('/auth/')) continue;
    out.add(path);
  }
  return [...out];
}
