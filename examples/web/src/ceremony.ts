import { useState } from 'react';

/**
 * A few steps (server, browser, server; or a "Confirm it's you" prompt and a retry) as one
 * action: busy while any runs (the browser's own dialog or the prompt may take a while), and
 * one error, whichever step failed: the server's refusal (an ApolloError) or the browser's (a
 * DOMException, e.g. NotAllowedError when cancelled).
 */
export function useCeremony() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  async function run(steps: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await steps();
    } catch (caught) {
      setError(caught instanceof Error ? caught : new Error(String(caught)));
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}
