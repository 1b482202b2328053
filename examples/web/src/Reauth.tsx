// "Confirm it's you": sensitive changes (adding a passkey, setting up 2FA, and on the server also
// the address, API tokens, account deletion, role grants) need a proof of who the user is made
// within AGORA_REAUTH_WINDOW_SECS. Signing in is one. The app sends such a change without a
// password; when Agora refuses it (`FORBIDDEN`, reason `REAUTHENTICATION_REQUIRED`, nothing
// changed), `useReauth()`'s wrapper shows one modal prompt, which calls `reauthenticate` with
// the password (and a code or recovery code while 2FA is on) or with a passkey
// (`beginPasskeyReauthentication`, `navigator.credentials.get`), and then sends the change
// again. Cancelling the prompt gives the caller the server's refusal. Actions refused at the
// same moment share one prompt.
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import { ErrorText, hasReason } from './errors';
import { useCeremony } from './ceremony';
import { getPasskey } from './webauthn';

export const REAUTHENTICATION_REQUIRED = 'REAUTHENTICATION_REQUIRED';

// What the prompt may offer: a code field while 2FA is on, "Use a passkey" when there is one.
const ReauthOptionsDocument = graphql(`
  query ReauthOptions {
    me {
      id
      twoFactorEnabled
    }
    myPasskeys {
      id
    }
  }
`);

const ReauthenticateDocument = graphql(`
  mutation Reauthenticate($input: ReauthenticateInput!) {
    reauthenticate(input: $input) {
      provedAt
      validUntil
      provedWith
    }
  }
`);

const BeginPasskeyReauthenticationDocument = graphql(`
  mutation BeginPasskeyReauthentication {
    beginPasskeyReauthentication {
      ceremonyId
      options
    }
  }
`);

/** Opens the prompt (or joins the one open); resolves to whether the user proved themself. */
type Ask = () => Promise<boolean>;
const ReauthContext = createContext<Ask | null>(null);

/** Around the signed-in app: holds the prompt, shown while some action waits for a proof. */
export function ReauthProvider({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const waiting = useRef<{ promise: Promise<boolean>; resolve: (proved: boolean) => void } | null>(null);
  const ask = useCallback<Ask>(() => {
    if (!waiting.current) {
      let resolve: (proved: boolean) => void = () => undefined;
      const promise = new Promise<boolean>((settle) => (resolve = settle));
      waiting.current = { promise, resolve };
      setOpen(true);
    }
    return waiting.current.promise;
  }, []);
  const done = useCallback((proved: boolean) => {
    const current = waiting.current;
    waiting.current = null;
    setOpen(false);
    current?.resolve(proved);
  }, []);
  return (
    <ReauthContext.Provider value={ask}>
      {children}
      {open && <ConfirmItsYou onDone={done} />}
    </ReauthContext.Provider>
  );
}

/**
 * Returns `withReauth(send)`: runs `send` (a sensitive mutation, sent without a password), and
 * when Agora answers REAUTHENTICATION_REQUIRED asks the user to confirm it's them, then runs it
 * again. Rejects with the refusal when the prompt is cancelled, or with any other error as is.
 */
export function useReauth() {
  const ask = useContext(ReauthContext);
  return useCallback(
    async <T,>(send: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await send();
        } catch (error) {
          // Proved but refused again (a window shorter than the round trip): ask again.
          if (!ask || !hasReason(error, REAUTHENTICATION_REQUIRED) || !(await ask())) throw error;
        }
      }
    },
    [ask],
  );
}

function ConfirmItsYou({ onDone }: { onDone: (proved: boolean) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
  }, []);
  // Asked each time: a passkey or 2FA may have been added elsewhere since.
  const { data, error } = useQuery(ReauthOptionsDocument, { fetchPolicy: 'cache-and-network' });
  const [reauthenticate] = useMutation(ReauthenticateDocument);
  const [beginPasskey] = useMutation(BeginPasskeyReauthenticationDocument);
  const attempt = useCeremony();
  const [useRecovery, setUseRecovery] = useState(false);
  const twoFactorEnabled = data?.me.twoFactorEnabled ?? false;
  const hasPasskey = (data?.myPasskeys.length ?? 0) > 0;

  function withPassword(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const password = String(form.get('password'));
    const second = String(form.get('code') ?? '').trim();
    const input = {
      password,
      ...(twoFactorEnabled && second ? (useRecovery ? { recoveryCode: second } : { code: second }) : {}),
    };
    return attempt.run(async () => {
      const result = await reauthenticate({ variables: { input } });
      if (result.data) onDone(true);
    });
  }

  const withPasskey = () =>
    attempt.run(async () => {
      const begun = (await beginPasskey()).data?.beginPasskeyReauthentication;
      if (!begun) return;
      const passkeyCredential = await getPasskey(begun.options);
      const input = { passkeyCeremonyId: begun.ceremonyId, passkeyCredential };
      // The passkey's "Last used" changed: the Settings list (when shown) asks again.
      const result = await reauthenticate({ variables: { input }, refetchQueries: ['MyPasskeys'] });
      if (result.data) onDone(true);
    });

  return (
    <dialog
      ref={dialog}
      className="reauth"
      aria-labelledby="reauth-title"
      data-testid="reauth-dialog"
      // Escape closes a modal dialog: that is Cancel.
      onCancel={(event) => {
        event.preventDefault();
        onDone(false);
      }}
    >
      <h2 id="reauth-title">Confirm it’s you</h2>
      <p>This change needs a recent proof that it is you. Then it goes ahead.</p>
      <ErrorText error={error} testId="reauth-options-error" />
      <form onSubmit={withPassword} data-testid="reauth-form" aria-label="Confirm with your password">
        <label>
          Your password
          <input name="password" type="password" required autoFocus autoComplete="current-password" data-testid="reauth-password" />
        </label>
        {twoFactorEnabled && (
          <>
            <label>
              {useRecovery ? 'Recovery code' : 'Code from your authenticator app'}
              <input
                name="code"
                key={String(useRecovery)}
                required
                autoComplete="one-time-code"
                inputMode={useRecovery ? 'text' : 'numeric'}
                data-testid="reauth-code"
              />
            </label>
            <button type="button" data-testid="reauth-toggle-recovery" onClick={() => setUseRecovery(!useRecovery)}>
              {useRecovery ? 'Use an authenticator code' : 'Use a recovery code'}
            </button>
          </>
        )}
        <button type="submit" disabled={attempt.busy} data-testid="reauth-submit">
          Confirm
        </button>
      </form>
      {hasPasskey && (
        <p>
          <button type="button" disabled={attempt.busy} onClick={withPasskey} data-testid="reauth-passkey">
            Use a passkey
          </button>
        </p>
      )}
      {attempt.busy && <p className="muted">Checking…</p>}
      <ErrorText error={attempt.error} testId="reauth-error" />
      <p className="muted">
        An account made through a provider has no password: use a passkey, or sign out and sign in with the provider again.
      </p>
      <p>
        <button type="button" onClick={() => onDone(false)} data-testid="reauth-cancel">
          Cancel
        </button>
      </p>
    </dialog>
  );
}
