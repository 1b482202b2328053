// What the passkey tests share (passkeys, reauth, autofill): Agora and the app on localhost (a
// relying-party id must be a domain name, and http://localhost is a secure context), ada
// registered, and a Chromium page with DevTools' WebAuthn domain on, ready for virtual
// authenticators.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { freePort, startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { launchChromium } from './browser.mjs';

const run = promisify(execFile);
export const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
export const PASSWORD = 'correct horse battery staple';

/** A CTAP2 platform authenticator that keeps discoverable credentials and verifies its user. */
export const AUTHENTICATOR = {
  protocol: 'ctap2',
  transport: 'internal',
  hasResidentKey: true,
  hasUserVerification: true,
  isUserVerified: true,
  automaticPresenceSimulation: true,
};

/**
 * Runs in the page before its scripts: records every WebAuthn get and how it ended, in
 * `window.__webauthn`, so a test can wait for the sign-in form's autofill request to be waiting
 * rather than guess when it is.
 */
function recordWebAuthn() {
  const get = navigator.credentials.get.bind(navigator.credentials);
  window.__webauthn = [];
  navigator.credentials.get = (options) => {
    const entry = { mediation: options?.mediation ?? 'optional', outcome: 'pending' };
    window.__webauthn.push(entry);
    const answer = get(options);
    answer.then(
      () => (entry.outcome = 'resolved'),
      (error) => (entry.outcome = error?.name ?? 'rejected'),
    );
    return answer;
  };
}

/**
 * Agora (named `name`, with `env` besides) and the app at http://localhost:<port>, ada
 * registered, a page in Chromium recording its WebAuthn requests, and a CDP session
 * with WebAuthn enabled. Everything stops when `t` ends. `problems` collects page errors and
 * console errors.
 */
export async function startPasskeyRig(t, { name, env = {} }) {
  const webPort = await freePort();
  const appOrigin = `http://localhost:${webPort}`;
  const agora = await startAgora({
    name,
    env: {
      AGORA_WEBAUTHN_RP_ID: 'localhost',
      AGORA_WEBAUTHN_ORIGINS: appOrigin,
      // Password checks (sign-ins, API tokens, prompts answered) count against the account's
      // sign-in budget, 5 a minute by default, and these tests check ada's more often.
      AGORA_RATE_LOGIN_PER_ACCOUNT: '50',
      ...env,
    },
  });
  t.after(() => agora.stop());
  const web = await startWeb(agora.url, { port: webPort });
  t.after(() => web.close());
  await mkdir(artifacts, { recursive: true });
  await agora.register({ username: 'ada', password: PASSWORD });
  const sql = async (query) => (await run('psql', [agora.env.DATABASE_URL, '-qXAtc', query])).stdout.trim();

  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext();
  await context.addInitScript(recordWebAuthn);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  // Virtual authenticators belong to this page (its CDP target) and outlive navigations.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const addAuthenticator = async (extra = {}) =>
    (await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { ...AUTHENTICATOR, ...extra } })).authenticatorId;
  const credentialsOf = async (authenticatorId) => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  const presence = (authenticatorId, enabled) => cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });
  return { agora, appOrigin, sql, context, page, problems, cdp, addAuthenticator, credentialsOf, presence };
}

/** Until the page's sign-in form has an autofill (conditional) request waiting. */
export const autofillWaiting = (page) =>
  page.waitForFunction(() =>
    window.__webauthn.some((entry) => entry.mediation === 'conditional' && entry.outcome === 'pending'),
  );

/** The page's own session as Agora sees it: asked with the page's cookies, from the page. */
export async function currentSession(page) {
  const answer = await page.evaluate(async () => {
    const response = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'apollo-require-preflight': 'true' },
      body: JSON.stringify({ query: '{ mySessions(first: 100) { nodes { current provedAt provedWith } } }' }),
    });
    return response.json();
  });
  assert.equal(answer.errors, undefined, JSON.stringify(answer.errors));
  const current = answer.data.mySessions.nodes.filter((session) => session.current);
  assert.equal(current.length, 1, 'one current session');
  return current[0];
}
