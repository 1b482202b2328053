import type { ApolloError } from '@apollo/client';

/** A refusal as a person reads it: the server's message, with the code and reason. */
export function describe(error: ApolloError | Error | undefined | null): string | null {
  if (!error) return null;
  const graphQLErrors = 'graphQLErrors' in error ? error.graphQLErrors : [];
  if (graphQLErrors?.length) {
    return graphQLErrors
      .map((e) => {
        const code = e.extensions?.code as string | undefined;
        const reason = e.extensions?.reason as string | undefined;
        return `${e.message}${code ? ` (${[code, reason].filter(Boolean).join(', ')})` : ''}`;
      })
      .join('; ');
  }
  return error.message;
}

export function ErrorText({ error, testId }: { error: ApolloError | Error | undefined | null; testId: string }) {
  const text = describe(error);
  return text ? (
    <p className="error" role="alert" data-testid={testId}>
      {text}
    </p>
  ) : null;
}

/** Whether the server refused with this `extensions.reason` (e.g. REAUTHENTICATION_REQUIRED). */
export function hasReason(error: unknown, reason: string): boolean {
  if (!error || typeof error !== 'object' || !('graphQLErrors' in error)) return false;
  const graphQLErrors = (error as ApolloError).graphQLErrors ?? [];
  return graphQLErrors.some((e) => e.extensions?.reason === reason);
}
