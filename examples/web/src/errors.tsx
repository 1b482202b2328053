import type { ApolloError } from '@apollo/client';

/**
 * A refusal as a person reads it: the server's message, with the code and reason. `reasons`
 * gives a screen's own wording for some `extensions.reason`s, in place of the message.
 */
export function describe(error: ApolloError | Error | undefined | null, reasons: Record<string, string> = {}): string | null {
  if (!error) return null;
  const graphQLErrors = 'graphQLErrors' in error ? error.graphQLErrors : [];
  if (graphQLErrors?.length) {
    return graphQLErrors
      .map((e) => {
        const code = e.extensions?.code as string | undefined;
        const reason = e.extensions?.reason as string | undefined;
        const message = (reason && reasons[reason]) || e.message;
        return `${message}${code ? ` (${[code, reason].filter(Boolean).join(', ')})` : ''}`;
      })
      .join('; ');
  }
  return error.message;
}

export function ErrorText({
  error,
  testId,
  reasons,
}: {
  error: ApolloError | Error | undefined | null;
  testId: string;
  reasons?: Record<string, string>;
}) {
  const text = describe(error, reasons);
  return text ? (
    <p className="error" role="alert" data-testid={testId}>
      {text}
    </p>
  ) : null;
}

/** A field's own refusal (see `fieldMessage`), shown beside its input. */
export function FieldError({ message, testId }: { message: string | null; testId: string }) {
  return message ? (
    <span className="error" role="alert" data-testid={testId}>
      {message}
    </span>
  ) : null;
}

function graphQLErrorsOf(error: unknown): ApolloError['graphQLErrors'] {
  if (!error || typeof error !== 'object' || !('graphQLErrors' in error)) return [];
  return (error as ApolloError).graphQLErrors ?? [];
}

/** Whether the server refused with this `extensions.reason` (e.g. REAUTHENTICATION_REQUIRED). */
export function hasReason(error: unknown, reason: string): boolean {
  return graphQLErrorsOf(error).some((e) => e.extensions?.reason === reason);
}

/** Whether the server refused with this `extensions.code` (e.g. SERVICE_UNAVAILABLE). */
export function hasCode(error: unknown, code: string): boolean {
  return graphQLErrorsOf(error).some((e) => e.extensions?.code === code);
}

/**
 * The server's message about one input (`extensions.field`, e.g. `units`), to show next to
 * it; null when the refusal is about something else.
 */
export function fieldMessage(error: unknown, field: string): string | null {
  return graphQLErrorsOf(error).find((e) => e.extensions?.field === field)?.message ?? null;
}
