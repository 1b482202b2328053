import { useEffect, useState, useSyncExternalStore } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import { session } from './session';
import { Auth } from './Auth';
import { Market } from './Market';
import { TopUp } from './TopUp';
import { Habits } from './Habits';
import { DayStart, Settings } from './Settings';
import { mailedLinkPage } from './MailedLinks';
import { LinkedProviders } from './Oidc';
import { Passkeys } from './Passkeys';
import { ReauthProvider } from './Reauth';

const MeDocument = graphql(`
  query Me {
    me {
      id
      username
      email
      budget
      twoFactorEnabled
      permissions
    }
  }
`);

const LogoutDocument = graphql(`
  mutation Logout {
    logout {
      sessionsRevoked
    }
  }
`);

type Page = 'market' | 'topup' | 'habits' | 'settings';
const PAGES: Page[] = ['market', 'topup', 'habits', 'settings'];

/** The page named by the address (`#/habits`), so a reload stays where it was. */
function pageFromHash(): Page {
  const name = location.hash.replace(/^#\/?/, '') as Page;
  return PAGES.includes(name) ? name : 'market';
}

export function App() {
  const status = useSyncExternalStore(session.subscribe, session.getStatus);
  const MailedLink = mailedLinkPage();
  if (MailedLink) return <MailedLink />;
  return status === 'signedIn' ? <Home /> : <Auth />;
}

function Home() {
  const [page, setPageState] = useState<Page>(pageFromHash);
  useEffect(() => {
    const follow = () => setPageState(pageFromHash());
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  const setPage = (next: Page) => {
    location.hash = `/${next}`;
    setPageState(next);
  };
  const { data, error } = useQuery(MeDocument);
  const [logout] = useMutation(LogoutDocument);
  const me = data?.me;

  async function signOut() {
    try {
      await logout();
    } finally {
      session.signedOut();
    }
  }

  if (!me) {
    return <main>{error ? <p className="error">{error.message}</p> : <p>Loading…</p>}</main>;
  }
  const tab = (name: Page, label: string) => (
    <button type="button" data-testid={`nav-${name}`} aria-current={page === name ? 'page' : undefined} onClick={() => setPage(name)}>
      {label}
    </button>
  );
  return (
    <ReauthProvider>
      <header>
        <strong>Agora</strong>
        <nav>
          {tab('market', 'Market')}
          {tab('topup', 'Top up')}
          {tab('habits', 'Habits')}
          {tab('settings', 'Settings')}
        </nav>
        <span className="spacer" />
        <span data-testid="whoami">Signed in as {me.username}</span>
        <span>
          Budget: <strong data-testid="budget">{me.budget}</strong>
        </span>
        <button type="button" data-testid="logout" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {page === 'market' && <Market me={me} />}
        {page === 'topup' && <TopUp />}
        {page === 'habits' && <Habits />}
        {page === 'settings' && (
          <>
            <DayStart />
            <Settings />
            <Passkeys />
            <LinkedProviders />
          </>
        )}
      </main>
      <footer className="muted">
        Session refreshes: <RefreshCount />
      </footer>
    </ReauthProvider>
  );
}

function RefreshCount() {
  const count = useSyncExternalStore(session.subscribe, session.refreshCount);
  return <span data-testid="refresh-count">{count}</span>;
}
