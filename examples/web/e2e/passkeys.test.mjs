// Passkeys in the SPA, in Chromium with DevTools' virtual authenticators (CDP's WebAuthn domain:
// a CTAP2 platform authenticator that keeps discoverable credentials and verifies its user by
// itself). WebAuthn wants a relying-party id that is a domain name, so the app is opened at
// http://localhost:<port> (a secure context, like https) and Agora is told its relying party
// (AGORA_WEBAUTHN_RP_ID=localhost, AGORA_WEBAUTHN_ORIGINS=the app's origin); the app's own
// server forwards /graphql, so its calls stay same-origin. Steps: a passkey added from Settings
// right after signing in (no password asked: the sign-in is a recent proof; the "Confirm it's
// you" prompt of a stale session is reauth.test.mjs), renamed; a sign-in with it and no
// username; with 2FA on, a password sign-in whose challenge a passkey answers; a second passkey
// added (the first authenticator refusing to make a second credential for the account), the
// first removed; and the last way into an account without a password, refused. The sign-in
// form's passkey autofill (conditional mediation) is autofill.test.mjs; here it must stay out of
// the way: Chromium's virtual authenticator answers a conditional request at once with its
// discoverable credential while automaticPresenceSimulation is on, so the steps that sign out
// with a passkey on the authenticator turn it off until they click a button (see signOut).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { PASSWORD, artifacts, autofillWaiting, startPasskeyRig } from './passkey-rig.mjs';

const STEP_MS = 30_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('passkeys in the SPA: add, rename, sign in without a username, answer 2FA, remove', async (t) => {
  const { agora, appOrigin, sql, context, page, problems, cdp, addAuthenticator, credentialsOf, presence } =
    await startPasskeyRig(t, { name: 'passkeys' });
  // For checking Agora's state behind the page's back: an API token outlives the 2FA switch.
  const token = await agora.apiToken('ada', PASSWORD);
  const passkeysOfAda = async () =>
    (await agora.must('{ myPasskeys { id name lastUsedAt backupEligible backedUp } }', {}, token)).myPasskeys;

  let laptop = await addAuthenticator();

  const testId = (id) => page.getByTestId(id);
  const shot = (name) => page.screenshot({ path: `${artifacts}passkeys-${name}.png`, fullPage: true });
  const row = (name) => testId('passkey').filter({ has: page.getByTestId('passkey-name').getByText(name, { exact: true }) });
  const signedInAsAda = () => testId('whoami').getByText('Signed in as ada').waitFor();
  async function passwordSignIn() {
    await testId('login-name').fill('ada');
    await testId('login-password').fill(PASSWORD);
    await testId('login-submit').click();
  }
  /**
   * Signs out, with `authenticatorId`'s presence off first: the sign-in form's autofill request
   * would otherwise be answered at once with ada's passkey and sign her in again by itself (what
   * autofill.test.mjs checks). With presence off the virtual authenticator leaves a conditional
   * request waiting, as a person who does not pick the passkey would. The steps turn presence on
   * again just before the button they test, which aborts the waiting request first.
   */
  async function signOut(authenticatorId) {
    await presence(authenticatorId, false);
    await testId('logout').click();
    await testId('login-form').waitFor();
    // Presence turned on before the form's autofill request starts would answer it at once.
    await autofillWaiting(page);
  }

  await t.test('Settings: right after signing in, a passkey is added without asking for the password', async () => {
    await page.goto(appOrigin);
    await passwordSignIn();
    await signedInAsAda();
    await testId('nav-settings').click();
    await testId('no-passkeys').waitFor();

    await testId('passkey-add-name').fill('Laptop');
    await testId('passkey-add').click();
    await testId('passkey-added').getByText('Passkey “Laptop” added.').waitFor();
    await row('Laptop').waitFor();
    assert.equal(await testId('passkey-add-error').count(), 0);
    assert.equal(await testId('reauth-dialog').count(), 0, 'the sign-in was proof enough: no prompt');
    assert.equal(await row('Laptop').getByTestId('passkey-last-used').innerText(), 'never');
    assert.equal(await row('Laptop').getByTestId('passkey-backup').innerText(), 'This device only');

    const stored = await passkeysOfAda();
    assert.equal(stored.length, 1);
    assert.equal(stored[0].name, 'Laptop');
    assert.equal(stored[0].lastUsedAt, null);
    const [credential] = await credentialsOf(laptop);
    assert.equal(credential.rpId, 'localhost');
    assert.equal(credential.isResidentCredential, true, 'discoverable: it can sign in without a username');
    assert.equal(credential.userName, 'ada');
    await shot('added');
  });

  await t.test('rename: the list shows the new name, and Agora keeps it', async () => {
    await row('Laptop').getByTestId('passkey-rename').click();
    await testId('passkey-rename-name').fill('Work laptop');
    await testId('passkey-rename-save').click();
    await row('Work laptop').waitFor();
    assert.equal(await testId('passkey').count(), 1);
    assert.deepEqual((await passkeysOfAda()).map((passkey) => passkey.name), ['Work laptop']);
  });

  await t.test('signed out, the passkey signs in without a username or password', async () => {
    const signCount = (await credentialsOf(laptop))[0].signCount;
    await signOut(laptop);
    assert.equal(await testId('login-name').inputValue(), '', 'no username typed');
    assert.equal((await context.cookies()).some((cookie) => cookie.name === 'agora_access'), false);
    await presence(laptop, true);
    await testId('passkey-sign-in').click();
    await signedInAsAda();
    const names = (await context.cookies()).map((cookie) => cookie.name);
    assert.ok(names.includes('agora_access') && names.includes('agora_refresh'), names.join());
    assert.ok((await credentialsOf(laptop))[0].signCount > signCount, 'the authenticator signed');
    const [used] = await passkeysOfAda();
    assert.ok(used.lastUsedAt, 'Agora recorded the use');
    const factors = await sql("SELECT metadata->>'factors' FROM audit_log WHERE action = 'auth.login' ORDER BY id DESC LIMIT 1");
    assert.equal(factors, '["passkey"]');
    await testId('nav-settings').click();
    assert.notEqual(await row('Work laptop').getByTestId('passkey-last-used').innerText(), 'never');
    await shot('signed-in-with-passkey');
  });

  await t.test('with 2FA on, "Use a passkey" answers the password sign-in’s challenge', async () => {
    // Two-factor on through the API (spa.test.mjs sets it up in the page).
    const setup = await agora.must(
      'mutation($input: BeginTwoFactorSetupInput!) { beginTwoFactorSetup(input: $input) { otpauthUri } }',
      { input: { password: PASSWORD } },
      token,
    );
    const totp = OTPAuth.URI.parse(setup.beginTwoFactorSetup.otpauthUri);
    const left = STEP_MS - (Date.now() % STEP_MS);
    if (left < 2000) await sleep(left + 200);
    await agora.must(
      'mutation($input: ConfirmTwoFactorSetupInput!) { confirmTwoFactorSetup(input: $input) { recoveryCodes } }',
      { input: { code: totp.generate() } },
      token,
    );

    await signOut(laptop);
    await passwordSignIn();
    await testId('mfa-form').waitFor();
    assert.equal(await testId('whoami').count(), 0, 'the password alone does not sign in');
    await presence(laptop, true);
    await testId('mfa-passkey').click();
    await signedInAsAda();
    const factors = await sql("SELECT metadata->>'factors' FROM audit_log WHERE action = 'auth.login' ORDER BY id DESC LIMIT 1");
    assert.equal(factors, '["password", "passkey"]');
    await shot('mfa-with-passkey');
  });

  await t.test('one authenticator holds one passkey of an account; another adds a second', async () => {
    // Signed in a moment ago (password and passkey): no prompt, though 2FA is on.
    await testId('nav-settings').click();
    await row('Work laptop').waitFor();
    await testId('passkey-add-name').fill('Second on the laptop');
    await testId('passkey-add').click();
    // Agora lists the account's credentials in excludeCredentials: the authenticator refuses.
    await testId('passkey-add-error').getByText(/InvalidStateError|already registered/i).waitFor();
    assert.equal((await passkeysOfAda()).length, 1);
    assert.equal((await credentialsOf(laptop)).length, 1);

    // Another device (one whose passkeys sync): the new passkey is listed as backed up.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptop });
    laptop = null;
    const phone = await addAuthenticator({ defaultBackupEligibility: true, defaultBackupState: true });
    await testId('passkey-add-name').fill('Phone');
    await testId('passkey-add').click();
    await row('Phone').waitFor();
    assert.equal(await row('Phone').getByTestId('passkey-backup').innerText(), 'Backed up (synced)');
    const stored = await passkeysOfAda();
    assert.deepEqual(
      stored.map(({ name, backupEligible, backedUp }) => ({ name, backupEligible, backedUp })),
      [
        { name: 'Work laptop', backupEligible: false, backedUp: false },
        { name: 'Phone', backupEligible: true, backedUp: true },
      ],
    );
    assert.equal((await credentialsOf(phone)).length, 1);
    assert.equal(await testId('reauth-dialog').count(), 0);

    // Ada has a password: the old laptop's passkey may go.
    await row('Work laptop').getByTestId('passkey-delete').click();
    await row('Work laptop').waitFor({ state: 'detached' });
    assert.equal(await testId('passkey-delete-error').count(), 0);
    assert.deepEqual((await passkeysOfAda()).map((passkey) => passkey.name), ['Phone']);

    // And the phone's passkey signs in, as both factors though 2FA is on.
    await signOut(phone);
    await presence(phone, true);
    await testId('passkey-sign-in').click();
    await signedInAsAda();
    await shot('phone');
  });

  await t.test('the last way into an account without a password cannot be removed', async () => {
    // A password-less account holding a passkey is one made by a provider that added a passkey
    // right after signing in with it; this test has no provider, so the password goes in the
    // database, as in the server's own test (tests/api/passkeys.rs).
    await sql("UPDATE users SET password_hash = '' WHERE username = 'ada'");
    await testId('nav-settings').click();
    await row('Phone').getByTestId('passkey-delete').click();
    await testId('passkey-delete-error').getByText('LAST_CREDENTIAL').waitFor();
    await row('Phone').waitFor();
    assert.deepEqual((await passkeysOfAda()).map((passkey) => passkey.name), ['Phone']);
    await shot('last-credential');
  });

  assert.deepEqual(problems, [], 'the page ran without errors');
});
