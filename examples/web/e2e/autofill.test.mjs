// The sign-in form's passkey autofill (WebAuthn conditional mediation, usePasskeyAutofill in
// src/Passkeys.tsx), in Chromium with a DevTools virtual authenticator (set up as in
// passkeys.test.mjs: localhost, AGORA_WEBAUTHN_RP_ID and AGORA_WEBAUTHN_ORIGINS).
//
// What Chromium's virtual authenticator does with `navigator.credentials.get({ mediation:
// "conditional" })` (Chromium 156, WebAuthn.enable with enableUI: false), found by trying it:
// - automaticPresenceSimulation on, a discoverable credential for the RP: the request resolves
//   at once with it, without the username field being focused and without any suggestion being
//   picked (ArrowDown + Enter in the field changes nothing: no autofill list is shown headless);
// - automaticPresenceSimulation on, no credential: it rejects at once with NotAllowedError;
// - automaticPresenceSimulation off (with or without a credential): it waits, like a person who
//   does not pick a passkey, until aborted (AbortError); turning presence on later does not
//   answer a request already waiting;
// - a modal get while a conditional one waits fails ("A request is already pending"), so the app
//   aborts the conditional request first.
// So "the person picks the passkey from the autofill" is presence on; "the person ignores the
// autofill" is presence off.
//
// The page's WebAuthn requests are recorded (an init script wraps navigator.credentials.get):
// which mediation, and how each ended, so a test tells the autofill from the button.
// Steps: no credential, the form stays quiet and the password signs in (the waiting request
// aborted); a passkey added, then the signed-out sign-in page signs in by the autofill alone
// (the session's proof and the audit log say ["passkey"]); the button aborts a waiting autofill
// request; Agora's refusal of a picked passkey is shown; a ceremony about to expire is replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, artifacts, currentSession as sessionOf, startPasskeyRig } from './passkey-rig.mjs';


test('passkey autofill on the sign-in form: signs in when a passkey is picked, stays quiet otherwise', async (t) => {
  const rig = await startPasskeyRig(t, { name: 'autofill' });
  const { agora, appOrigin, sql, context, page, problems } = rig;
  const lastLoginFactors = () =>
    sql("SELECT metadata->>'factors' FROM audit_log WHERE action = 'auth.login' ORDER BY id DESC LIMIT 1");

  // The ceremonies the page begins (the autofill's and the button's).
  const begun = [];
  page.on('request', (request) => {
    if (request.url().endsWith('/graphql') && request.method() === 'POST') {
      if (request.postDataJSON()?.operationName === 'BeginPasskeySignIn') begun.push(Date.now());
    }
  });

  const laptop = await rig.addAuthenticator();
  const credentialsOf = () => rig.credentialsOf(laptop);
  const presence = (enabled) => rig.presence(laptop, enabled);

  const testId = (id) => page.getByTestId(id);
  const shot = (name) => page.screenshot({ path: `${artifacts}autofill-${name}.png`, fullPage: true });
  const signedInAsAda = () => testId('whoami').getByText('Signed in as ada').waitFor();
  const requests = () => page.evaluate(() => window.__webauthn.map((entry) => ({ ...entry })));
  /** Until the page has made a conditional request that is in `outcome` (e.g. 'pending'). */
  const conditionalRequest = (outcome) =>
    page.waitForFunction(
      (outcome) => window.__webauthn.some((entry) => entry.mediation === 'conditional' && entry.outcome === outcome),
      outcome,
    );
  const noErrorsShown = async () => {
    for (const id of ['passkey-autofill-error', 'auth-error', 'passkey-sign-in-error']) {
      assert.equal(await testId(id).count(), 0, `no ${id}`);
    }
  };
  const currentSession = () => sessionOf(page);
  /** Signs out with presence off: the form's autofill request then waits (nobody picks). */
  async function signOutAndWait() {
    await presence(false);
    await testId('logout').click();
    await testId('login-form').waitFor();
    await conditionalRequest('pending');
  }

  await t.test('no passkey on the authenticator: the form stays, shows nothing, and the password signs in', async () => {
    await page.goto(appOrigin);
    await testId('login-form').waitFor();
    assert.equal(await testId('login-name').getAttribute('autocomplete'), 'username webauthn');
    // Presence on and nothing to offer: the virtual authenticator says no at once, quietly.
    await conditionalRequest('NotAllowedError');
    await page.waitForTimeout(500);
    await noErrorsShown();
    assert.equal(await testId('whoami').count(), 0);

    // As in a browser whose autofill the person ignores: the request waits.
    await presence(false);
    await page.reload();
    await testId('login-form').waitFor();
    await conditionalRequest('pending');
    await testId('login-name').fill('ada');
    await testId('login-password').fill(PASSWORD);
    await testId('login-submit').click();
    await signedInAsAda();
    assert.deepEqual(await requests(), [{ mediation: 'conditional', outcome: 'AbortError' }], 'the submit aborted it, no other request');
    await noErrorsShown();
    assert.deepEqual((await currentSession()).provedWith, ['password']);
    assert.equal(await lastLoginFactors(), '["password"]');
    assert.deepEqual(problems, []);
  });

  await t.test('with a passkey, the signed-out sign-in page signs in through the autofill, no button', async () => {
    await presence(true);
    await testId('nav-settings').click();
    await testId('passkey-add-name').fill('Laptop');
    await testId('passkey-add').click();
    await testId('passkey-added').waitFor();
    const [credential] = await credentialsOf();
    assert.equal(credential.isResidentCredential, true);
    assert.equal(credential.userName, 'ada');

    // Signed out, the autofill waiting (nobody picks yet): the form stays.
    await signOutAndWait();
    assert.equal((await context.cookies()).some((cookie) => cookie.name === 'agora_access'), false);
    await page.waitForTimeout(500);
    assert.equal(await testId('whoami').count(), 0, 'nothing signs in while nobody picks a passkey');
    await shot('waiting');

    // The sign-in page again, and this time the passkey is picked (presence on): signed in.
    await presence(true);
    await page.reload();
    await signedInAsAda();
    assert.equal(await testId('whoami').innerText(), 'Signed in as ada');
    assert.deepEqual(await requests(), [{ mediation: 'conditional', outcome: 'resolved' }], 'the autofill’s request, no modal one');
    assert.ok((await credentialsOf())[0].signCount > credential.signCount, 'the authenticator signed');
    assert.deepEqual((await currentSession()).provedWith, ['passkey']);
    assert.equal(await lastLoginFactors(), '["passkey"]');
    await noErrorsShown();
    await shot('signed-in');
    assert.deepEqual(problems, []);
  });

  await t.test('"Sign in with a passkey" aborts the waiting autofill request and signs in itself', async () => {
    // No reload here: the requests of the page so far (the autofill's that signed in) stay listed.
    const from = (await requests()).length;
    await signOutAndWait();
    await presence(true);
    await testId('passkey-sign-in').click();
    await signedInAsAda();
    assert.deepEqual((await requests()).slice(from), [
      { mediation: 'conditional', outcome: 'AbortError' },
      { mediation: 'optional', outcome: 'resolved' },
    ]);
    assert.deepEqual((await currentSession()).provedWith, ['passkey']);
    await noErrorsShown();
    assert.deepEqual(problems, []);
  });

  await t.test('a passkey Agora refuses, picked from the autofill: the refusal is shown, the password still works', async () => {
    // Agora no longer knows the passkey the authenticator still holds.
    await sql("DELETE FROM passkeys WHERE user_id = (SELECT id FROM users WHERE username = 'ada')");
    await signOutAndWait();
    await presence(true);
    await page.reload();
    await testId('passkey-autofill-error').getByText('Invalid credentials (UNAUTHENTICATED)').waitFor();
    assert.deepEqual(await requests(), [{ mediation: 'conditional', outcome: 'resolved' }]);
    assert.equal(await testId('whoami').count(), 0);
    await shot('refused');

    await presence(false);
    await testId('login-name').fill('ada');
    await testId('login-password').fill(PASSWORD);
    await testId('login-submit').click();
    await signedInAsAda();
    assert.deepEqual((await currentSession()).provedWith, ['password']);
    assert.deepEqual(problems, []);
  });

  await t.test('a waiting autofill request is replaced before its five-minute ceremony expires', async () => {
    await signOutAndWait();
    // The page's clock, faked from the next load on, runs on by itself; fastForward jumps it.
    await page.clock.install();
    await page.reload();
    await testId('login-form').waitFor();
    await conditionalRequest('pending');
    const before = begun.length;
    await page.clock.fastForward('04:50');
    await page.waitForFunction(() => window.__webauthn.length === 2 && window.__webauthn[1].outcome === 'pending');
    assert.deepEqual(await requests(), [
      { mediation: 'conditional', outcome: 'AbortError' },
      { mediation: 'conditional', outcome: 'pending' },
    ]);
    assert.equal(begun.length, before + 1, 'a new ceremony was begun');
    await noErrorsShown();
    // And the page still signs in with the password (the new request aborted in turn).
    await testId('login-name').fill('ada');
    await testId('login-password').fill(PASSWORD);
    await testId('login-submit').click();
    await signedInAsAda();
    assert.equal((await requests())[1].outcome, 'AbortError');
  });

  assert.deepEqual(problems, [], 'the page ran without errors');
});
