import { useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation } from '@apollo/client';
import { graphql } from './gql';
import { session } from './session';
import { ErrorText } from './errors';
import { LinkForm, ProviderButtons, forgetProviderReturn, providerErrorText, providerReturn } from './Oidc';
import { BeginMfaPasskeyDocument, PasskeySignIn, usePasskeyAutofill } from './Passkeys';
import type { PasskeyAutofill } from './Passkeys';
import { useCeremony } from './ceremony';
import { getPasskey } from './webauthn';

const RegisterDocument = graphql(`
  mutation Register($input: RegisterInput!) {
    register(input: $input) {
      user {
        id
        username
      }
    }
  }
`);

// Tokens come back as cookies; the answer's token fields are not even asked for.
const LoginDocument = graphql(`
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      __typename
      ... on AuthPayload {
        accessTokenExpiresAt
        user {
          id
          username
        }
      }
      ... on MfaChallenge {
        challengeToken
        expiresAt
      }
    }
  }
`);

const VerifyMfaDocument = graphql(`
  mutation VerifyMfa($input: VerifyMfaInput!) {
    verifyMfa(input: $input) {
      accessTokenExpiresAt
      user {
        id
        username
      }
    }
  }
`);

export function Auth() {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [notice, setNotice] = useState<string | null>(null);
  const [loginName, setLoginName] = useState('');
  // A provider sign-in that came back needing a second factor, or proof of an existing account.
  const returned = providerReturn();
  const [challenge, setChallenge] = useState<string | null>(returned?.kind === 'mfa' ? returned.challengeToken : null);
  const [link, setLink] = useState(returned?.kind === 'link' ? returned : null);
  const [providerError, setProviderError] = useState(providerErrorText(returned));
  const done = (then: () => void) => () => {
    forgetProviderReturn();
    then();
  };

  if (challenge) {
    return <MfaForm challengeToken={challenge} onCancel={done(() => setChallenge(null))} />;
  }
  if (link) {
    return <LinkForm linkToken={link.linkToken} provider={link.provider} onCancel={done(() => setLink(null))} />;
  }
  return (
    <main>
      <h1>Agora</h1>
      <p>
        <button type="button" data-testid="show-login" disabled={mode === 'login'} onClick={() => setMode('login')}>
          Sign in
        </button>{' '}
        <button type="button" data-testid="show-register" disabled={mode === 'register'} onClick={() => setMode('register')}>
          Create an account
        </button>
      </p>
      {notice && (
        <p className="notice" data-testid="auth-notice">
          {notice}
        </p>
      )}
      {providerError && (
        <p className="error" role="alert" data-testid="oidc-return-error">
          {providerError}{' '}
          <button type="button" onClick={done(() => setProviderError(null))}>
            Dismiss
          </button>
        </p>
      )}
      {mode === 'register' ? (
        <RegisterForm
          onRegistered={(username) => {
            setLoginName(username);
            setNotice(`Account ${username} created. Sign in.`);
            setMode('login');
          }}
        />
      ) : (
        <SignIn initialLogin={loginName} onChallenge={setChallenge} />
      )}
    </main>
  );
}

function RegisterForm({ onRegistered }: { onRegistered: (username: string) => void }) {
  const [register, { loading, error }] = useMutation(RegisterDocument);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const input = {
      username: String(form.get('username')),
      email: String(form.get('email')),
      password: String(form.get('password')),
    };
    const result = await register({ variables: { input } }).catch(() => null);
    if (result?.data) onRegistered(result.data.register.user.username);
  }
  return (
    <form onSubmit={submit} data-testid="register-form" aria-label="Create an account">
      <label>
        Username
        <input name="username" data-testid="register-username" required autoComplete="username" />
      </label>
      <label>
        Email
        <input name="email" type="email" data-testid="register-email" required autoComplete="email" />
      </label>
      <label>
        Password
        <input name="password" type="password" data-testid="register-password" required minLength={8} autoComplete="new-password" />
      </label>
      <button type="submit" data-testid="register-submit" disabled={loading}>
        Create account
      </button>
      <ErrorText error={error} testId="auth-error" />
    </form>
  );
}

type SignInProps = { initialLogin: string; onChallenge: (token: string) => void };

/** The sign-in screen's ways in; the passkey autofill waits while it is shown. */
function SignIn(props: SignInProps) {
  const autofill = usePasskeyAutofill();
  return (
    <>
      <LoginForm {...props} autofill={autofill} />
      <PasskeySignIn autofill={autofill} />
      <ProviderButtons />
    </>
  );
}

function LoginForm({ initialLogin, onChallenge, autofill }: SignInProps & { autofill: PasskeyAutofill }) {
  const [login, { loading, error }] = useMutation(LoginDocument);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const input = { login: String(form.get('login')), password: String(form.get('password')) };
    // The autofill's waiting request is aborted while the password is checked (and begun again
    // if the form stays, e.g. for a wrong password).
    await autofill.pause(async () => {
      const result = await login({ variables: { input } }).catch(() => null);
      const answer = result?.data?.login;
      if (answer?.__typename === 'MfaChallenge') onChallenge(answer.challengeToken);
      else if (answer?.__typename === 'AuthPayload') session.signedIn();
    });
  }
  return (
    <form onSubmit={submit} data-testid="login-form" aria-label="Sign in">
      <label>
        Username or email
        {/* "webauthn": the browser also lists this site's passkeys here (usePasskeyAutofill). */}
        <input name="login" data-testid="login-name" defaultValue={initialLogin} required autoComplete="username webauthn" />
      </label>
      <label>
        Password
        <input name="password" type="password" data-testid="login-password" required autoComplete="current-password" />
      </label>
      <button type="submit" data-testid="login-submit" disabled={loading}>
        Sign in
      </button>
      <ErrorText error={error} testId="auth-error" />
      <ErrorText error={autofill.error} testId="passkey-autofill-error" />
    </form>
  );
}

function MfaForm({ challengeToken, onCancel }: { challengeToken: string; onCancel: () => void }) {
  const [useRecovery, setUseRecovery] = useState(false);
  const [verify, { loading, error }] = useMutation(VerifyMfaDocument);
  // The passkey answer has its own mutation state: its error is the ceremony's, shown once.
  const [beginPasskey] = useMutation(BeginMfaPasskeyDocument);
  const [verifyWithPasskey] = useMutation(VerifyMfaDocument);
  const passkey = useCeremony();
  const answerWithPasskey = () =>
    passkey.run(async () => {
      const begun = (await beginPasskey({ variables: { input: { challengeToken } } })).data?.beginMfaPasskey;
      if (!begun) return;
      const passkeyCredential = await getPasskey(begun.options);
      const input = { challengeToken, passkeyCeremonyId: begun.ceremonyId, passkeyCredential };
      const result = await verifyWithPasskey({ variables: { input } });
      if (result.data) session.signedIn();
    });
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const value = String(new FormData(event.currentTarget).get('code')).trim();
    const input = useRecovery ? { challengeToken, recoveryCode: value } : { challengeToken, code: value };
    const result = await verify({ variables: { input } }).catch(() => null);
    if (result?.data) session.signedIn();
  }
  return (
    <main>
      <h1>Two-factor sign-in</h1>
      <form onSubmit={submit} data-testid="mfa-form" aria-label="Second factor">
        <label>
          {useRecovery ? 'Recovery code' : 'Code from your authenticator app'}
          <input
            name="code"
            key={String(useRecovery)}
            data-testid="mfa-code"
            required
            autoComplete="one-time-code"
            inputMode={useRecovery ? 'text' : 'numeric'}
          />
        </label>
        <button type="submit" data-testid="mfa-submit" disabled={loading}>
          Verify
        </button>
        <button type="button" data-testid="mfa-toggle-recovery" onClick={() => setUseRecovery(!useRecovery)}>
          {useRecovery ? 'Use an authenticator code' : 'Use a recovery code'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <ErrorText error={error} testId="auth-error" />
      </form>
      <p>
        <button type="button" data-testid="mfa-passkey" disabled={passkey.busy} onClick={answerWithPasskey}>
          Use a passkey
        </button>
        {passkey.busy && <span className="muted"> Waiting for your passkey…</span>}
      </p>
      <ErrorText error={passkey.error} testId="mfa-passkey-error" />
    </main>
  );
}
