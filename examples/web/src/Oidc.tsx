// Sign-in with an OpenID provider, through Agora's own callback route: the app asks
// `beginOidcSignIn` for the provider's address (the answer also sets an HttpOnly cookie binding
// the sign-in to this browser) and navigates there; the provider sends the browser back to
// Agora's `/auth/oidc/{provider}/callback`, which sets the session cookies and sends it on to
// RETURN_PATH here. What the app must still act on is in the fragment: `#mfaChallenge=…` (2FA is
// on), `#linkToken=…&provider=…` (an account with the same verified address exists: its owner
// proves it), `#linked=…` (a signed-in user linked a provider) or `#error=…&message=…`.
import { useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import { session } from './session';
import { ErrorText } from './errors';

/** Where Agora sends the browser back to (a path of this app; any path serves index.html). */
export const RETURN_PATH = '/oidc-return';

export type ProviderReturn =
  | { kind: 'signedIn' }
  | { kind: 'mfa'; challengeToken: string }
  | { kind: 'link'; linkToken: string; provider: string }
  | { kind: 'linked'; provider: string }
  | { kind: 'error'; code: string; message: string };

// Read once, before anything renders, and taken out of the address bar: a challenge or link
// token must stay neither in the history nor on a shared screen. Errors from the callback route
// may also come to the app's root (`/#error=…`), so the fragment is read on every path.
const initialReturn: ProviderReturn | null = (() => {
  const facts = new URLSearchParams(location.hash.slice(1));
  const onReturnPath = location.pathname === RETURN_PATH;
  let found: ProviderReturn | null = null;
  const error = facts.get('error');
  const challengeToken = facts.get('mfaChallenge');
  const linkToken = facts.get('linkToken');
  const linked = facts.get('linked');
  if (error) found = { kind: 'error', code: error, message: facts.get('message') ?? error };
  else if (challengeToken) found = { kind: 'mfa', challengeToken };
  else if (linkToken) found = { kind: 'link', linkToken, provider: facts.get('provider') ?? '' };
  else if (linked) found = { kind: 'linked', provider: linked };
  else if (onReturnPath) found = { kind: 'signedIn' };
  if (found || onReturnPath) {
    history.replaceState(null, '', found?.kind === 'linked' ? '/#/settings' : '/');
  }
  // The callback set the session cookies; the app asks who we are, and a missing session
  // shows up as a failed refresh, which signs out again.
  if (found?.kind === 'signedIn') session.signedIn();
  return found;
})();

let pending = initialReturn;

/**
 * What the provider sign-in that brought the browser here still asks of the sign-in screen,
 * until it is done with: the sign-in screen mounts again after a sign-out, and must not offer
 * a spent challenge or link token again.
 */
export function providerReturn(): ProviderReturn | null {
  return pending;
}

/** The sign-in screen is done with the provider's return (cancelled, dismissed). */
export function forgetProviderReturn() {
  if (pending?.kind !== 'linked') pending = null;
}

// Signed in by any means: the return has been acted on.
session.subscribe(() => {
  if (session.getStatus() === 'signedIn') forgetProviderReturn();
});

const ProvidersDocument = graphql(`
  query OidcProviders {
    oidcProviders {
      id
      displayName
    }
  }
`);

const BeginSignInDocument = graphql(`
  mutation BeginOidcSignIn($input: BeginOidcInput!) {
    beginOidcSignIn(input: $input) {
      authorizationUrl
      expiresAt
    }
  }
`);

const ConfirmLinkDocument = graphql(`
  mutation ConfirmIdentityLink($input: ConfirmIdentityLinkInput!) {
    confirmIdentityLink(input: $input) {
      accessTokenExpiresAt
      user {
        id
        username
      }
    }
  }
`);

/** The providers' names by id, for messages (empty until they are loaded). */
export function useProviderNames(): Map<string, string> {
  const { data } = useQuery(ProvidersDocument);
  return new Map((data?.oidcProviders ?? []).map((provider) => [provider.id, provider.displayName]));
}

/** A "Sign in with …" button per configured provider (nothing when there are none). */
export function ProviderButtons() {
  const { data } = useQuery(ProvidersDocument);
  const [begin, { loading, error }] = useMutation(BeginSignInDocument);
  const providers = data?.oidcProviders ?? [];
  if (providers.length === 0) return null;

  async function signInWith(provider: string) {
    const result = await begin({ variables: { input: { provider, returnTo: RETURN_PATH } } }).catch(() => null);
    const url = result?.data?.beginOidcSignIn.authorizationUrl;
    // A real navigation (not a pop-up, not a fetch): the provider's pages need the whole window.
    if (url) window.location.assign(url);
  }

  return (
    <div className="providers" data-testid="oidc-providers">
      {providers.map((provider) => (
        <button
          type="button"
          key={provider.id}
          data-testid={`oidc-${provider.id}`}
          disabled={loading}
          onClick={() => signInWith(provider.id)}
        >
          Sign in with {provider.displayName}
        </button>
      ))}
      <ErrorText error={error} testId="oidc-error" />
    </div>
  );
}

/**
 * The provider's verified address belongs to an existing account, which Agora never links on
 * its own: its owner proves the account with the password (and a 2FA code when it is on).
 */
export function LinkForm({ linkToken, provider, onCancel }: { linkToken: string; provider: string; onCancel: () => void }) {
  const names = useProviderNames();
  const [confirm, { loading, error }] = useMutation(ConfirmLinkDocument);
  const [useRecovery, setUseRecovery] = useState(false);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const password = String(form.get('password'));
    const second = String(form.get('code') ?? '').trim();
    const input = {
      linkToken,
      password,
      ...(second ? (useRecovery ? { recoveryCode: second } : { code: second }) : {}),
    };
    const result = await confirm({ variables: { input } }).catch(() => null);
    if (result?.data) session.signedIn();
  }
  const name = names.get(provider) ?? provider;
  return (
    <main>
      <h1>Link {name} to your account</h1>
      <p data-testid="link-explanation">
        An Agora account already uses the address {name} gave. If it is yours, prove it with its password to link {name}{' '}
        to it; from then on either way signs you in.
      </p>
      <form onSubmit={submit} data-testid="link-form" aria-label="Prove your account">
        <label>
          Password of the existing account
          <input name="password" type="password" data-testid="link-password" required autoComplete="current-password" />
        </label>
        <label>
          {useRecovery ? 'Recovery code' : 'Code from your authenticator app (if two-factor is on)'}
          <input name="code" key={String(useRecovery)} data-testid="link-code" autoComplete="one-time-code" />
        </label>
        <button type="submit" data-testid="link-submit" disabled={loading}>
          Link and sign in
        </button>
        <button type="button" onClick={() => setUseRecovery(!useRecovery)}>
          {useRecovery ? 'Use an authenticator code' : 'Use a recovery code'}
        </button>
        <button type="button" data-testid="link-cancel" onClick={onCancel}>
          Cancel
        </button>
        <ErrorText error={error} testId="link-error" />
      </form>
    </main>
  );
}

/** The message for an `#error=` the callback route sent. */
export function providerErrorText(found: ProviderReturn | null): string | null {
  return found?.kind === 'error' ? `Sign-in with the provider failed: ${found.message} (${found.code})` : null;
}

const IdentitiesDocument = graphql(`
  query LinkedIdentities {
    me {
      id
      identities {
        id
        provider
        email
        createdAt
        lastUsedAt
      }
    }
    oidcProviders {
      id
      displayName
    }
  }
`);

const BeginLinkDocument = graphql(`
  mutation BeginOidcLink($input: BeginOidcInput!) {
    beginOidcLink(input: $input) {
      authorizationUrl
      expiresAt
    }
  }
`);

const UnlinkDocument = graphql(`
  mutation UnlinkIdentity($input: UnlinkIdentityInput!) {
    unlinkIdentity(input: $input) {
      identity {
        id
      }
    }
  }
`);

/** Settings: the providers linked to this account, each with Unlink, and Link buttons for the rest. */
export function LinkedProviders() {
  const { data, error, refetch } = useQuery(IdentitiesDocument);
  const [beginLink, beginState] = useMutation(BeginLinkDocument);
  const [unlink, unlinkState] = useMutation(UnlinkDocument);
  const [linkedNotice] = useState(() => {
    const found = providerReturn();
    return found?.kind === 'linked' ? found.provider : null;
  });
  const identities = data?.me.identities ?? [];
  const providers = data?.oidcProviders ?? [];
  if (!data && !error) return null;
  if (providers.length === 0 && identities.length === 0) return null;
  const name = (id: string) => providers.find((provider) => provider.id === id)?.displayName ?? id;

  async function link(provider: string) {
    const result = await beginLink({ variables: { input: { provider, returnTo: RETURN_PATH } } }).catch(() => null);
    const url = result?.data?.beginOidcLink.authorizationUrl;
    if (url) window.location.assign(url);
  }
  async function remove(id: string) {
    const result = await unlink({ variables: { input: { id } } }).catch(() => null);
    if (result?.data) await refetch();
  }

  return (
    <section>
      <h2>Linked providers</h2>
      <ErrorText error={error} testId="identities-error" />
      {linkedNotice && (
        <p className="notice" data-testid="identity-linked">
          {name(linkedNotice)} is now linked to your account.
        </p>
      )}
      {identities.length === 0 ? (
        <p>No provider is linked to this account.</p>
      ) : (
        <ul>
          {identities.map((identity) => (
            <li key={identity.id} data-testid="identity">
              {name(identity.provider)}
              {identity.email ? ` (${identity.email})` : ''}, linked {new Date(identity.createdAt).toLocaleDateString()}{' '}
              <button type="button" data-testid="unlink" disabled={unlinkState.loading} onClick={() => remove(identity.id)}>
                Unlink
              </button>
            </li>
          ))}
        </ul>
      )}
      <ErrorText error={unlinkState.error} testId="unlink-error" />
      {providers
        .filter((provider) => !identities.some((identity) => identity.provider === provider.id))
        .map((provider) => (
          <button
            type="button"
            key={provider.id}
            data-testid={`link-${provider.id}`}
            disabled={beginState.loading}
            onClick={() => link(provider.id)}
          >
            Link {provider.displayName}
          </button>
        ))}
      <ErrorText error={beginState.error} testId="begin-link-error" />
    </section>
  );
}
