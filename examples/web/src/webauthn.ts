// The browser's half of a passkey ceremony. Agora's `PasskeyCeremony.options` is what
// webauthn-rs serialises: `{ publicKey: { … } }` (a sign-in's may also carry `mediation`), with
// every binary field in base64url. `publicKey` has the shape of the standard
// PublicKeyCredentialCreationOptionsJSON / …RequestOptionsJSON, so the browser's own
// `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` read it as
// it is (members the browser does not know, such as webauthn-rs's `uvm` extension, are
// ignored), and the answer goes back as `credential.toJSON()`, which webauthn-rs reads as it is
// (`clientExtensionResults` is one of the names it takes for the extensions). No base64 here.

/** Why a passkey cannot be used in this browser, or null when it can. */
export function passkeysUnsupported(): string | null {
  if (typeof PublicKeyCredential === 'undefined' || !navigator.credentials) {
    return 'This browser cannot use passkeys (no WebAuthn; it needs a secure context: https, or localhost).';
  }
  if (
    typeof PublicKeyCredential.parseCreationOptionsFromJSON !== 'function' ||
    typeof PublicKeyCredential.parseRequestOptionsFromJSON !== 'function'
  ) {
    return 'This browser is too old for passkeys here (no PublicKeyCredential.parseCreationOptionsFromJSON).';
  }
  return null;
}

/** `options.publicKey` of a ceremony, checked to be an object. */
function publicKeyOf<T>(options: unknown): T {
  const publicKey = (options as { publicKey?: unknown } | null)?.publicKey;
  if (!publicKey || typeof publicKey !== 'object') {
    throw new Error('The server sent passkey options without `publicKey`.');
  }
  return publicKey as T;
}

function ensureSupported() {
  const why = passkeysUnsupported();
  if (why) throw new Error(why);
}

/**
 * Asks the browser (and the person) to create a passkey for a registration Agora began;
 * resolves to the answer as JSON for `finishPasskeyRegistration`. Rejects with the browser's
 * DOMException when the person cancels or no authenticator answers.
 */
export async function createPasskey(options: unknown): Promise<unknown> {
  ensureSupported();
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(
    publicKeyOf<PublicKeyCredentialCreationOptionsJSON>(options),
  );
  const credential = await navigator.credentials.create({ publicKey });
  if (!(credential instanceof PublicKeyCredential)) throw new Error('The browser created no passkey.');
  return credential.toJSON();
}

/**
 * Asks the browser for an assertion with one of this site's passkeys (any, for a sign-in
 * without a username; one of the account's, for a second factor); resolves to the answer as
 * JSON for `finishPasskeySignIn` or `verifyMfa`.
 */
export async function getPasskey(options: unknown): Promise<unknown> {
  ensureSupported();
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(
    publicKeyOf<PublicKeyCredentialRequestOptionsJSON>(options),
  );
  // A modal request: `mediation: "conditional"` (the browser's autofill) is for a request made
  // while a username field waits, which these buttons are not (see getPasskeyFromAutofill).
  const credential = await navigator.credentials.get({ publicKey });
  if (!(credential instanceof PublicKeyCredential)) throw new Error('The browser gave no passkey.');
  return credential.toJSON();
}

/**
 * Whether the browser offers this site's passkeys in the autofill of a field marked
 * `autocomplete="username webauthn"` (conditional mediation). Never rejects: false when unsure.
 */
export async function autofillAvailable(): Promise<boolean> {
  if (passkeysUnsupported()) return false;
  try {
    return (await PublicKeyCredential.isConditionalMediationAvailable?.()) === true;
  } catch {
    return false;
  }
}

/**
 * A conditional request: the browser adds this site's passkeys to the username field's
 * autofill and resolves (to the answer as JSON, for `finishPasskeySignIn`) only when the person
 * picks one. It may wait as long as the page is open; `signal` ends it (the promise then
 * rejects with the signal's AbortError). Only one WebAuthn request runs at a time: abort this
 * one before a modal `getPasskey`.
 */
export async function getPasskeyFromAutofill(options: unknown, signal: AbortSignal): Promise<unknown> {
  ensureSupported();
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(
    publicKeyOf<PublicKeyCredentialRequestOptionsJSON>(options),
  );
  const credential = await navigator.credentials.get({ mediation: 'conditional', publicKey, signal });
  if (!(credential instanceof PublicKeyCredential)) throw new Error('The browser gave no passkey.');
  return credential.toJSON();
}
