// "Confirm it's you" in the SPA (src/Reauth.tsx), in Chromium against a server whose proofs of
// identity last WINDOW_SECS (AGORA_REAUTH_WINDOW_SECS) rather than 10 minutes. Sensitive changes
// go out without a password; once the session's proof is older than the window, Agora refuses
// them (FORBIDDEN, REAUTHENTICATION_REQUIRED), the app asks, calls `reauthenticate`, and sends the
// change again. Steps: adding a passkey after the window asks (a wrong password is refused with
// the server's message and changes nothing; the right one adds it); setting up 2FA after the
// window, confirmed with "Use a passkey" (the session's proof is then `["passkey"]`); with 2FA
// on the prompt also asks for a code, Cancel leaves nothing changed, and a recovery code with
// the password adds a second passkey on a second authenticator. Each step checks Agora's state
// (myPasskeys, me, the page's own session in mySessions, the audit log), not only the page.
// The passkey set-up (virtual authenticators, localhost) is as in passkeys.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { PASSWORD, artifacts, currentSession as sessionOf, startPasskeyRig } from './passkey-rig.mjs';

const WINDOW_SECS = 3;
const STEP_MS = 30_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('"Confirm it’s you": a stale session proves itself with its password or a passkey, and the change goes ahead', async (t) => {
  const { agora, appOrigin, sql, page, problems, cdp, addAuthenticator, credentialsOf } = await startPasskeyRig(t, {
    name: 'reauth',
    env: { AGORA_REAUTH_WINDOW_SECS: String(WINDOW_SECS) },
  });
  // Agora's view behind the page's back (an API token needs no recent proof to read).
  const token = await agora.apiToken('ada', PASSWORD);
  const passkeysOfAda = async () => (await agora.must('{ myPasskeys { name lastUsedAt } }', {}, token)).myPasskeys;
  const ada = async () => (await agora.must('{ me { twoFactorEnabled recoveryCodesLeft } }', {}, token)).me;
  const reauthAudit = async () =>
    (await sql("SELECT metadata->>'factors' FROM audit_log WHERE action = 'auth.reauthenticate' ORDER BY id")).split('\n').filter(Boolean);

  const laptop = await addAuthenticator();

  const testId = (id) => page.getByTestId(id);
  const shot = (name) => page.screenshot({ path: `${artifacts}reauth-${name}.png`, fullPage: true });
  const row = (name) => testId('passkey').filter({ has: page.getByTestId('passkey-name').getByText(name, { exact: true }) });
  const prompt = page.getByRole('dialog', { name: 'Confirm it’s you' });

  const currentSession = () => sessionOf(page);
  /** Until the session's proof is older than the window (and a little more, for clock reads). */
  async function outlive(session) {
    const wait = Date.parse(session.provedAt) + WINDOW_SECS * 1000 + 700 - Date.now();
    if (wait > 0) await sleep(wait);
  }

  let signedIn;
  await t.test('a stale session is asked to confirm; a wrong password changes nothing, the right one adds the passkey', async () => {
    await page.goto(appOrigin);
    await testId('login-name').fill('ada');
    await testId('login-password').fill(PASSWORD);
    await testId('login-submit').click();
    await testId('whoami').getByText('Signed in as ada').waitFor();
    await testId('nav-settings').click();
    await testId('no-passkeys').waitFor();
    signedIn = await currentSession();
    assert.deepEqual(signedIn.provedWith, ['password'], 'signing in is a proof');

    await outlive(signedIn);
    await testId('passkey-add-name').fill('Laptop');
    await testId('passkey-add').click();
    await prompt.waitFor();
    assert.equal(await prompt.getByTestId('reauth-code').count(), 0, 'no code asked while 2FA is off');
    assert.equal(await prompt.getByTestId('reauth-passkey').count(), 0, 'no passkey to offer yet');
    assert.deepEqual(await credentialsOf(laptop), [], 'refused before the browser was asked');
    assert.deepEqual(await passkeysOfAda(), []);
    await shot('prompt');

    await testId('reauth-password').fill('not the password');
    await testId('reauth-submit').click();
    await prompt.getByTestId('reauth-error').getByText('Password is incorrect').waitFor();
    assert.ok(await prompt.isVisible(), 'the prompt stays for another try');
    assert.deepEqual(await credentialsOf(laptop), []);
    assert.deepEqual(await passkeysOfAda(), []);
    assert.deepEqual(await currentSession(), signedIn, 'the session’s proof is as it was');
    assert.deepEqual(await reauthAudit(), []);
    await shot('wrong-password');

    await testId('reauth-password').fill(PASSWORD);
    await testId('reauth-submit').click();
    // Proved, then beginPasskeyRegistration sent again by itself, and the passkey made.
    await testId('passkey-added').getByText('Passkey “Laptop” added.').waitFor();
    await row('Laptop').waitFor();
    assert.equal(await prompt.count(), 0, 'the prompt is gone');
    assert.equal(await testId('passkey-add-error').count(), 0);
    assert.deepEqual((await passkeysOfAda()).map((passkey) => passkey.name), ['Laptop']);
    assert.equal((await credentialsOf(laptop)).length, 1);
    const proved = await currentSession();
    assert.deepEqual(proved.provedWith, ['password']);
    assert.ok(Date.parse(proved.provedAt) > Date.parse(signedIn.provedAt), 'a new proof in the same session');
    assert.deepEqual(await reauthAudit(), ['["password"]']);
  });

  let recoveryCodes;
  await t.test('later, "Use a passkey" confirms setting up 2FA, and the session shows the passkey as its proof', async () => {
    const before = await currentSession();
    const signCount = (await credentialsOf(laptop))[0].signCount;
    await outlive(before);
    await testId('2fa-begin').click();
    await prompt.waitFor();
    await prompt.getByTestId('reauth-passkey').click();
    const uri = await testId('2fa-uri').innerText();
    assert.match(uri, /^otpauth:\/\/totp\//);
    assert.equal(await prompt.count(), 0);
    assert.equal(await testId('2fa-error').count(), 0);
    assert.ok((await credentialsOf(laptop))[0].signCount > signCount, 'the authenticator signed');
    const proved = await currentSession();
    assert.deepEqual(proved.provedWith, ['passkey']);
    assert.ok(Date.parse(proved.provedAt) > Date.parse(before.provedAt));
    assert.deepEqual(await reauthAudit(), ['["password"]', '["passkey"]']);
    assert.ok((await passkeysOfAda())[0].lastUsedAt, 'Agora recorded the use');
    // And the list on the page asked again: "Last used" is no longer "never".
    await row('Laptop').getByTestId('passkey-last-used').filter({ hasNotText: 'never' }).waitFor();

    // The setup the retry began is real: its code turns 2FA on.
    const totp = OTPAuth.URI.parse(uri);
    const left = STEP_MS - (Date.now() % STEP_MS);
    if (left < 2000) await sleep(left + 200);
    await testId('2fa-code').fill(totp.generate());
    await testId('2fa-confirm').click();
    await testId('2fa-enabled').getByText('10 recovery codes left').waitFor();
    recoveryCodes = await testId('recovery-code').allInnerTexts();
    assert.deepEqual(await ada(), { twoFactorEnabled: true, recoveryCodesLeft: 10 });
    await shot('two-factor-on');
  });

  await t.test('with 2FA on the prompt asks for a code; Cancel changes nothing; a recovery code adds a second passkey', async () => {
    // Another device (the laptop's authenticator would refuse a second passkey of ada's).
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptop });
    const phone = await addAuthenticator({ defaultBackupEligibility: true, defaultBackupState: true });
    await outlive(await currentSession());

    await testId('passkey-add-name').fill('Phone');
    await testId('passkey-add').click();
    await prompt.waitFor();
    await prompt.getByTestId('reauth-code').waitFor();
    await prompt.getByTestId('reauth-passkey').waitFor();
    await testId('reauth-cancel').click();
    await prompt.waitFor({ state: 'detached' });
    await testId('passkey-add-error').getByText('REAUTHENTICATION_REQUIRED').waitFor();
    assert.deepEqual((await passkeysOfAda()).map((passkey) => passkey.name), ['Laptop']);
    assert.deepEqual(await credentialsOf(phone), []);

    await testId('passkey-add').click();
    await prompt.waitFor();
    await testId('reauth-password').fill(PASSWORD);
    await testId('reauth-toggle-recovery').click();
    await testId('reauth-code').fill(recoveryCodes[0]);
    await shot('prompt-with-code');
    await testId('reauth-submit').click();
    await row('Phone').waitFor();
    assert.equal(await prompt.count(), 0);
    assert.equal(await testId('passkey-add-error').count(), 0, 'the refusal of the cancelled try is gone');
    assert.deepEqual((await passkeysOfAda()).map((passkey) => passkey.name), ['Laptop', 'Phone']);
    assert.equal((await credentialsOf(phone)).length, 1);
    assert.deepEqual((await currentSession()).provedWith, ['password', 'recovery_code']);
    assert.deepEqual(await ada(), { twoFactorEnabled: true, recoveryCodesLeft: 9 });
    await shot('second-passkey');
  });

  assert.deepEqual(problems, [], 'the page ran without errors');
});
