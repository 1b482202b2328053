// Whether the browser holds a session, and the one place that refreshes it.
//
// The tokens themselves live in Agora's HttpOnly cookies (__Host-agora_access and
// __Host-agora_refresh; agora_access and agora_refresh on plain-http development servers) and
// never in script-readable storage. What is kept is only a hint that a session
// exists ("signed-in" in localStorage), so a reload knows whether to ask who we are.
import { print } from 'graphql';
import { graphql } from './gql';

const HINT = 'agora.signed-in';

const RefreshSessionDocument = graphql(`
  mutation RefreshSession {
    refreshSession(input: {}) {
      accessToken
      accessTokenExpiresAt
    }
  }
`);

type Status = 'signedIn' | 'signedOut';
type Listener = () => void;

let status: Status = localStorage.getItem(HINT) ? 'signedIn' : 'signedOut';
const listeners = new Set<Listener>();
let refreshing: Promise<string | null> | null = null;
let refreshCount = 0;

function set(next: Status) {
  if (next === 'signedIn') localStorage.setItem(HINT, '1');
  else localStorage.removeItem(HINT);
  if (status === next) return;
  status = next;
  listeners.forEach((listener) => listener());
}

export const session = {
  getStatus: (): Status => status,
  /** Called when the status or the refresh count changes. */
  subscribe(listener: Listener) {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  },
  signedIn: () => set('signedIn'),
  signedOut: () => set('signedOut'),
  /** How many refreshes went to the server (shown in the footer, read by the e2e test). */
  refreshCount: () => refreshCount,

  /**
   * Exchanges the refresh cookie for new cookies, once for all who ask at the same time (each
   * refresh token works once). Resolves to the new access token (the app reads it only as
   * proof that the session lives on), or null when there is no session any more; then the app
   * goes back to the sign-in screen.
   */
  refresh(): Promise<string | null> {
    if (!refreshing) {
      refreshing = doRefresh().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  },
};

async function doRefresh(): Promise<string | null> {
  refreshCount += 1;
  listeners.forEach((listener) => listener());
  let body: { data?: { refreshSession?: { accessToken: string } } | null; errors?: unknown[] };
  try {
    const response = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        'apollo-require-preflight': 'true',
      },
      body: JSON.stringify({ operationName: 'RefreshSession', query: print(RefreshSessionDocument), variables: {} }),
    });
    body = await response.json();
  } catch {
    // The network failed, not the session: keep it, and let the caller see the error.
    return null;
  }
  const token = body.data?.refreshSession?.accessToken;
  if (!token) {
    set('signedOut');
    return null;
  }
  set('signedIn');
  return token;
}
