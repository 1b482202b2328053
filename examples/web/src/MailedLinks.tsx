// The two routes Agora's mails link to when AGORA_APP_URL names this app: /verify-email and
// /reset-password, the token in the fragment (`#token=…`; `?token=` is read too). They work
// signed in or not.
import { useEffect, useRef } from 'react';
import type { ComponentType, FormEvent } from 'react';
import { useMutation } from '@apollo/client';
import { graphql } from './gql';
import { session } from './session';
import { ErrorText } from './errors';

const VerifyEmailDocument = graphql(`
  mutation VerifyEmail($input: VerifyEmailInput!) {
    verifyEmail(input: $input) {
      user {
        id
        username
        emailVerified
      }
    }
  }
`);

const ResetPasswordDocument = graphql(`
  mutation ResetPassword($input: ResetPasswordInput!) {
    resetPassword(input: $input) {
      sessionsRevoked
    }
  }
`);

const PAGES: Record<string, ComponentType> = {
  '/verify-email': VerifyEmail,
  '/reset-password': ResetPassword,
};

// Read once, before anything renders, and taken out of the address bar so that neither the
// history nor a shared screen keeps it.
const token = (() => {
  if (!(location.pathname in PAGES)) return null;
  const found = new URLSearchParams(location.hash.slice(1)).get('token') ?? new URLSearchParams(location.search).get('token');
  history.replaceState(null, '', location.pathname);
  return found;
})();

/** The page for the path a mailed link opened, if it is one. */
export function mailedLinkPage(): ComponentType | undefined {
  return PAGES[location.pathname];
}

function Missing() {
  return (
    <p className="error" data-testid="link-error">
      This link carries no token: open the link from the mail as it was sent.
    </p>
  );
}

function VerifyEmail() {
  const [verify, { data, error }] = useMutation(VerifyEmailDocument);
  // A token works once: React's development double effects must not spend it twice.
  const sent = useRef(false);
  useEffect(() => {
    if (!token || sent.current) return;
    sent.current = true;
    verify({ variables: { input: { token } } }).catch(() => null);
  }, [verify]);
  const user = data?.verifyEmail.user;
  return (
    <main>
      <h1>Confirm your email address</h1>
      {!token && <Missing />}
      {token && !user && !error && <p>Confirming your address…</p>}
      {user && (
        <p className="notice" data-testid="verify-result">
          Thank you, {user.username}: your email address is verified.
        </p>
      )}
      <ErrorText error={error} testId="verify-error" />
      <p>
        <a href="/">Continue to Agora</a>
      </p>
    </main>
  );
}

function ResetPassword() {
  const [reset, { data, loading, error }] = useMutation(ResetPasswordDocument);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const newPassword = String(new FormData(event.currentTarget).get('password'));
    const result = await reset({ variables: { input: { token: token ?? '', newPassword } } }).catch(() => null);
    // Every session of the account ended, this browser's included.
    if (result?.data) session.signedOut();
  }
  return (
    <main>
      <h1>Choose a new password</h1>
      {!token && <Missing />}
      {token && !data && (
        <form onSubmit={submit} data-testid="reset-form" aria-label="New password">
          <label>
            New password (at least 8 characters)
            <input
              name="password"
              type="password"
              data-testid="reset-password"
              required
              minLength={8}
              maxLength={256}
              autoComplete="new-password"
            />
          </label>
          <button type="submit" data-testid="reset-submit" disabled={loading}>
            Set the new password
          </button>
          <ErrorText error={error} testId="reset-error" />
        </form>
      )}
      {data && (
        <p className="notice" data-testid="reset-done">
          Your password is changed, and every session was signed out: sign in with the new one.
        </p>
      )}
      <p>
        <a href="/">Continue to Agora</a>
      </p>
    </main>
  );
}
