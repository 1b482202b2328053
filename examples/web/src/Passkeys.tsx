// Passkeys (WebAuthn): Settings lists the account's passkeys, adds one (`beginPasskeyRegistration`
// with no password, "Confirm it's you" when Agora wants a fresh proof (src/Reauth.tsx), the
// browser's `navigator.credentials.create`, `finishPasskeyRegistration`), renames and removes
// them; the sign-in screen signs in with one and no username (`beginPasskeySignIn`,
// `navigator.credentials.get`, `finishPasskeySignIn`, which also sets the session cookies), both
// from its button and from the username field's autofill (usePasskeyAutofill). The 2FA step's
// "Use a passkey" is in Auth.tsx (MfaForm). The browser's side of each ceremony is
// src/webauthn.ts.
import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import { session } from './session';
import { ErrorText } from './errors';
import { useCeremony } from './ceremony';
import { useReauth } from './Reauth';
import { autofillAvailable, createPasskey, getPasskey, getPasskeyFromAutofill } from './webauthn';

const PasskeysDocument = graphql(`
  query MyPasskeys {
    myPasskeys {
      id
      name
      createdAt
      lastUsedAt
      backupEligible
      backedUp
      possiblyClonedAt
    }
  }
`);

const BeginRegistrationDocument = graphql(`
  mutation BeginPasskeyRegistration {
    beginPasskeyRegistration {
      ceremonyId
      options
    }
  }
`);

const FinishRegistrationDocument = graphql(`
  mutation FinishPasskeyRegistration($input: FinishPasskeyRegistrationInput!) {
    finishPasskeyRegistration(input: $input) {
      id
      name
      createdAt
      lastUsedAt
      backupEligible
      backedUp
      possiblyClonedAt
    }
  }
`);

const RenameDocument = graphql(`
  mutation RenamePasskey($input: RenamePasskeyInput!) {
    renamePasskey(input: $input) {
      id
      name
    }
  }
`);

const DeleteDocument = graphql(`
  mutation DeletePasskey($input: DeletePasskeyInput!) {
    deletePasskey(input: $input) {
      id
    }
  }
`);

const BeginSignInDocument = graphql(`
  mutation BeginPasskeySignIn {
    beginPasskeySignIn {
      ceremonyId
      options
      expiresAt
    }
  }
`);

const FinishSignInDocument = graphql(`
  mutation FinishPasskeySignIn($input: FinishPasskeySignInInput!) {
    finishPasskeySignIn(input: $input) {
      accessTokenExpiresAt
      user {
        id
        username
      }
    }
  }
`);

export const BeginMfaPasskeyDocument = graphql(`
  mutation BeginMfaPasskey($input: BeginMfaPasskeyInput!) {
    beginMfaPasskey(input: $input) {
      ceremonyId
      options
    }
  }
`);

/** How long Agora keeps a ceremony (`PasskeyCeremony.expiresAt`: five minutes). */
const CEREMONY_MS = 5 * 60_000;
/** A waiting autofill request is replaced by a new one this long before its ceremony ends. */
const RENEW_BEFORE_MS = 20_000;

export type PasskeyAutofill = {
  /**
   * Runs `action` (a password sign-in, a modal passkey request) with the autofill's waiting
   * request aborted first (the browser runs one WebAuthn request at a time), and waits for a
   * passkey again afterwards if the sign-in form is still there.
   */
  pause<T>(action: () => Promise<T>): Promise<T>;
  /** Agora's refusal of a passkey the person picked from the autofill. */
  error: Error | null;
};

/**
 * The sign-in form's passkey autofill (WebAuthn conditional mediation): while the form is
 * shown, a `beginPasskeySignIn` ceremony waits in `navigator.credentials.get({ mediation:
 * "conditional" })`, so the browser lists this site's passkeys under the username field
 * (`autocomplete="username webauthn"`); picking one finishes the sign-in. The request is
 * aborted when the form goes away or another way of signing in starts (`pause`), and replaced
 * before its ceremony expires (or, when the timer was late or a request ended, when the page
 * gets focus again). Everything here is quiet (the password form is right there) except
 * Agora's refusal of a passkey the person picked.
 */
export function usePasskeyAutofill(): PasskeyAutofill {
  const [begin] = useMutation(BeginSignInDocument);
  const [finish] = useMutation(FinishSignInDocument);
  const [error, setError] = useState<Error | null>(null);
  // Each round is one ceremony and one conditional request; a new round replaces the last.
  const [round, setRound] = useState(0);
  // How many actions are running that the autofill must stay out of.
  const [pauses, setPauses] = useState(0);
  const waiting = useRef<AbortController | null>(null);
  // When the current round should be replaced: Infinity while it is fine (or while none can be).
  const renewAt = useRef(Infinity);

  useEffect(() => {
    if (pauses > 0 || session.getStatus() !== 'signedOut') return;
    const controller = new AbortController();
    const { signal } = controller;
    waiting.current = controller;
    renewAt.current = Infinity;
    let timer: ReturnType<typeof setTimeout> | undefined;
    void (async () => {
      if (!(await autofillAvailable()) || signal.aborted) return;
      let ceremonyId: string;
      let credential: unknown;
      try {
        const begun = (await begin()).data?.beginPasskeySignIn;
        if (!begun || signal.aborted) return;
        ceremonyId = begun.ceremonyId;
        // Agora's clock, read with ours: kept between one minute and five, whatever the skew.
        const lifetime = Date.parse(begun.expiresAt) - Date.now();
        const keep =
          (Number.isFinite(lifetime) ? Math.min(Math.max(lifetime, 60_000), CEREMONY_MS) : CEREMONY_MS) - RENEW_BEFORE_MS;
        renewAt.current = Date.now() + keep;
        timer = setTimeout(() => setRound((n) => n + 1), keep);
        credential = await getPasskeyFromAutofill(begun.options, signal);
      } catch {
        // Aborted (the form went, or another sign-in started), the browser's "no" (no passkey
        // here, the person closed its prompt), or no ceremony could begin: nothing to show.
        // A request that ended by itself is begun again when the page gets focus.
        if (!signal.aborted) renewAt.current = 0;
        return;
      } finally {
        clearTimeout(timer);
      }
      // The person picked a passkey: from here on a refusal is theirs to see.
      renewAt.current = Infinity;
      try {
        const finished = await finish({ variables: { input: { ceremonyId, credential } } });
        if (finished.data) {
          setError(null);
          session.signedIn();
        }
      } catch (caught) {
        setError(caught instanceof Error ? caught : new Error(String(caught)));
        // Not at once (the same passkey could be offered and refused again and again): on focus.
        renewAt.current = 0;
      }
    })();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
    // `begin` and `finish` only send their mutations: a new round is what `round` asks for.
  }, [round, pauses]);

  // A timer may fire late in a background tab (or a request may have ended): on coming back,
  // a round that is due is replaced before the person reaches for the autofill.
  useEffect(() => {
    const wake = () => {
      if (document.visibilityState === 'visible' && Date.now() >= renewAt.current) setRound((n) => n + 1);
    };
    window.addEventListener('focus', wake);
    document.addEventListener('visibilitychange', wake);
    return () => {
      window.removeEventListener('focus', wake);
      document.removeEventListener('visibilitychange', wake);
    };
  }, []);

  async function pause<T>(action: () => Promise<T>): Promise<T> {
    // At once, not after a render: the modal request may start in this same task.
    waiting.current?.abort();
    setError(null);
    setPauses((n) => n + 1);
    try {
      return await action();
    } finally {
      setPauses((n) => n - 1);
    }
  }

  return { pause, error };
}

/**
 * Sign-in screen: a passkey of this site signs in, no username asked (a discoverable credential).
 * The autofill's waiting request is aborted first: the browser runs one request at a time.
 */
export function PasskeySignIn({ autofill }: { autofill: PasskeyAutofill }) {
  const [begin] = useMutation(BeginSignInDocument);
  const [finish] = useMutation(FinishSignInDocument);
  const ceremony = useCeremony();

  const signIn = () =>
    ceremony.run(() =>
      autofill.pause(async () => {
        const begun = (await begin()).data?.beginPasskeySignIn;
        if (!begun) return;
        const credential = await getPasskey(begun.options);
        const finished = await finish({ variables: { input: { ceremonyId: begun.ceremonyId, credential } } });
        if (finished.data) session.signedIn();
      }),
    );

  return (
    <div className="passkey-sign-in">
      <button type="button" data-testid="passkey-sign-in" disabled={ceremony.busy} onClick={signIn}>
        Sign in with a passkey
      </button>
      {ceremony.busy && <span className="muted"> Waiting for your passkey…</span>}
      <ErrorText error={ceremony.error} testId="passkey-sign-in-error" />
    </div>
  );
}

function when(date: string | null | undefined): string {
  return date ? new Date(date).toLocaleString() : 'never';
}

function backupState(passkey: { backupEligible: boolean; backedUp: boolean }): string {
  if (passkey.backedUp) return 'Backed up (synced)';
  if (passkey.backupEligible) return 'Can sync, not backed up now';
  return 'This device only';
}

/** Settings: the account's passkeys, with Add, Rename and Remove. */
export function Passkeys() {
  const { data, error } = useQuery(PasskeysDocument);
  const [deletePasskey, deleteState] = useMutation(DeleteDocument, {
    update(cache, { data: removed }) {
      const id = removed?.deletePasskey.id;
      if (!id) return;
      cache.updateQuery({ query: PasskeysDocument }, (current) =>
        current ? { ...current, myPasskeys: current.myPasskeys.filter((passkey) => passkey.id !== id) } : current,
      );
      cache.evict({ id: cache.identify({ __typename: 'Passkey', id }) });
    },
  });
  const [renaming, setRenaming] = useState<string | null>(null);
  const passkeys = data?.myPasskeys ?? [];

  return (
    <section>
      <h2>Passkeys</h2>
      <ErrorText error={error} testId="passkeys-error" />
      {data && passkeys.length === 0 && (
        <p className="muted" data-testid="no-passkeys">
          No passkey yet. A passkey signs you in without a password (and counts as both factors).
        </p>
      )}
      {passkeys.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Added</th>
              <th>Last used</th>
              <th>Backup</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {passkeys.map((passkey) => (
              <tr key={passkey.id} data-testid="passkey" data-passkey-id={passkey.id}>
                <td>
                  {renaming === passkey.id ? (
                    <RenameForm id={passkey.id} name={passkey.name} onDone={() => setRenaming(null)} />
                  ) : (
                    <span data-testid="passkey-name">{passkey.name}</span>
                  )}
                  {passkey.possiblyClonedAt && (
                    <span className="error" data-testid="passkey-cloned">
                      {' '}
                      Refused since {when(passkey.possiblyClonedAt)}: it may have been copied. Remove it.
                    </span>
                  )}
                </td>
                <td data-testid="passkey-created">{when(passkey.createdAt)}</td>
                <td data-testid="passkey-last-used">{when(passkey.lastUsedAt)}</td>
                <td data-testid="passkey-backup">{backupState(passkey)}</td>
                <td>
                  {renaming !== passkey.id && (
                    <button type="button" data-testid="passkey-rename" onClick={() => setRenaming(passkey.id)}>
                      Rename
                    </button>
                  )}{' '}
                  <button
                    type="button"
                    data-testid="passkey-delete"
                    disabled={deleteState.loading}
                    onClick={() => deletePasskey({ variables: { input: { id: passkey.id } } }).catch(() => undefined)}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorText error={deleteState.error} testId="passkey-delete-error" />
      {data && <AddPasskey />}
    </section>
  );
}

function RenameForm({ id, name, onDone }: { id: string; name: string; onDone: () => void }) {
  // The answer carries the passkey's id and new name: the cached list shows it at once.
  const [rename, { loading, error }] = useMutation(RenameDocument);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const next = String(new FormData(event.currentTarget).get('name')).trim();
    const result = await rename({ variables: { input: { id, name: next } } }).catch(() => null);
    if (result?.data) onDone();
  }
  return (
    <form onSubmit={submit} data-testid="passkey-rename-form" aria-label="Rename the passkey">
      <input name="name" defaultValue={name} required maxLength={100} data-testid="passkey-rename-name" aria-label="New name" />
      <button type="submit" disabled={loading} data-testid="passkey-rename-save">
        Save
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
      <ErrorText error={error} testId="passkey-rename-error" />
    </form>
  );
}

/**
 * Adding a passkey: `beginPasskeyRegistration` without a password; a session that proved its
 * user recently (a sign-in, or "Confirm it's you") goes straight on, others are asked to
 * confirm it's them first. Then the browser asks the person to create the passkey.
 */
function AddPasskey() {
  const [begin] = useMutation(BeginRegistrationDocument);
  const [finish] = useMutation(FinishRegistrationDocument, {
    update(cache, { data: added }) {
      const passkey = added?.finishPasskeyRegistration;
      if (!passkey) return;
      cache.updateQuery({ query: PasskeysDocument }, (current) =>
        current ? { ...current, myPasskeys: [...current.myPasskeys, passkey] } : current,
      );
    },
  });
  const withReauth = useReauth();
  const ceremony = useCeremony();
  const [added, setAdded] = useState<string | null>(null);
  // While the browser, not "Confirm it's you", is what the action waits for.
  const [creating, setCreating] = useState(false);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const name = String(new FormData(formElement).get('name')).trim();
    setAdded(null);
    return ceremony.run(async () => {
      // Only this step needs the proof: the retry begins a new ceremony, with new options.
      const begun = (await withReauth(() => begin())).data?.beginPasskeyRegistration;
      if (!begun) return;
      setCreating(true);
      const credential = await createPasskey(begun.options).finally(() => setCreating(false));
      const finished = await finish({ variables: { input: { ceremonyId: begun.ceremonyId, credential, name } } });
      if (!finished.data) return;
      setAdded(finished.data.finishPasskeyRegistration.name);
      formElement.reset();
    });
  }

  return (
    <>
      {added && (
        <p className="notice" data-testid="passkey-added">
          Passkey “{added}” added. It signs you in with the “Sign in with a passkey” button.
        </p>
      )}
      <form onSubmit={submit} data-testid="passkey-add-form" aria-label="Add a passkey">
        <label>
          Name
          <input name="name" defaultValue="Passkey" required maxLength={100} data-testid="passkey-add-name" />
        </label>
        <button type="submit" disabled={ceremony.busy} data-testid="passkey-add">
          Add a passkey
        </button>
        {creating && <span className="muted">Waiting for your passkey…</span>}
        <ErrorText error={ceremony.error} testId="passkey-add-error" />
      </form>
    </>
  );
}
