import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, Observable, split } from '@apollo/client';
import type { FetchResult } from '@apollo/client';
import { onError } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import { session } from './session';

// Operations that run without a session (or are the refresh itself): an UNAUTHENTICATED answer
// to them is final, no refresh is tried.
const PUBLIC_OPERATIONS = new Set([
  'Login',
  'Register',
  'VerifyMfa',
  'RefreshSession',
  'VerifyEmail',
  'ResetPassword',
  'BeginPasskeySignIn',
  'FinishPasskeySignIn',
  'BeginMfaPasskey',
]);

const isUnauthenticated = (errors: ReadonlyArray<{ extensions?: Record<string, unknown> }> | undefined) =>
  errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED') ?? false;

// Same origin: the cookies travel, and `apollo-require-preflight` tells Agora's CSRF check that
// a browser could not have sent this request cross-site without a CORS preflight.
const httpLink = new HttpLink({
  uri: '/graphql',
  credentials: 'same-origin',
  headers: { 'apollo-require-preflight': 'true' },
});

// The socket authenticates with the access cookie its upgrade request carries (Agora accepts it
// from pages of its own origin only). The cookie may have expired since the last request, and
// Agora closes a socket (4403, which graphql-ws retries) once its token expires, so a signed-in
// app refreshes just before each connection: the upgrade then carries a fresh cookie, and no
// token passes through script.
export const wsClient = createClient({
  url: async () => {
    if (session.getStatus() === 'signedIn') await session.refresh();
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
  },
  lazy: true,
  retryAttempts: 5,
});
const wsLink = new GraphQLWsLink(wsClient);

// A request refused as UNAUTHENTICATED while we believe we hold a session: the access cookie
// expired. Refresh once (shared by every request failing at the same moment), then retry.
const refreshLink = onError(({ graphQLErrors, operation, forward }) => {
  if (!isUnauthenticated(graphQLErrors)) return;
  if (PUBLIC_OPERATIONS.has(operation.operationName) || operation.getContext().refreshed) return;
  if (session.getStatus() !== 'signedIn') return;
  return new Observable<FetchResult>((observer) => {
    let inner: { unsubscribe(): void } | undefined;
    let closed = false;
    session.refresh().then((token) => {
      if (closed) return;
      if (!token) {
        observer.error(new Error('Your session has ended; please sign in again.'));
        return;
      }
      operation.setContext({ refreshed: true });
      inner = forward(operation).subscribe(observer);
    });
    return () => {
      closed = true;
      inner?.unsubscribe();
    };
  });
});

const transport = split(
  ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  },
  wsLink,
  httpLink,
);

export const cache = new InMemoryCache({
  possibleTypes: { LoginResult: ['AuthPayload', 'MfaChallenge'] },
  typePolicies: {
    Query: {
      fields: {
        // Pages of one list merge into one cached list; the cursor is no part of its key.
        marketItems: relayStylePagination(['filter']),
        myItems: relayStylePagination(),
        items: relayStylePagination(['filter']),
        myTransactions: relayStylePagination(),
        habits: relayStylePagination(['filter', 'orderBy']),
        mySessions: relayStylePagination(),
        me: { merge: true },
      },
    },
  },
});

export const client = new ApolloClient({
  link: ApolloLink.from([refreshLink, transport]),
  cache,
});

// Signing in or out: forget what the previous user saw, and reconnect the socket as the new one.
let lastStatus = session.getStatus();
session.subscribe(() => {
  const status = session.getStatus();
  if (status === lastStatus) return;
  lastStatus = status;
  wsClient.terminate();
  if (status === 'signedOut') void client.clearStore();
});
