import { useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useSubscription } from '@apollo/client';
import { graphql } from './gql';
import type { HabitFieldsFragment } from './gql/graphql';
import { ErrorText, FieldError, fieldMessage } from './errors';

const SetRemindersDocument = graphql(`
  mutation SetHabitReminders($input: SetHabitRemindersInput!) {
    setHabitReminders(input: $input) {
      habit {
        id
        reminders
      }
    }
  }
`);

const HabitRemindersDocument = graphql(`
  subscription HabitReminders {
    habitReminders {
      habit {
        id
        name
      }
      habitDay
      time
    }
  }
`);

/**
 * A habit's reminder times, with a time to add and each to remove. Every change sends the whole
 * list (`setHabitReminders` replaces it), and the answer's habit updates the cached card. The
 * field has no limit of its own: a sixth time is the server's to refuse, by the field.
 */
export function HabitReminders({ habit }: { habit: Pick<HabitFieldsFragment, 'id' | 'name' | 'reminders'> }) {
  const [setReminders, state] = useMutation(SetRemindersDocument);
  const timesMessage = fieldMessage(state.error, 'times');

  const save = (times: string[]) => setReminders({ variables: { input: { habitId: habit.id, times } } }).catch(() => null);

  function add(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    void save([...habit.reminders, String(new FormData(event.currentTarget).get('time'))]);
  }

  // Keyed by the saved list, so the field empties when a time is kept, and keeps a refused one.
  return (
    <form key={habit.reminders.join()} onSubmit={add} data-testid="habit-reminders">
      <span className="muted">Reminders:</span>
      {habit.reminders.length === 0 && <span className="muted">none</span>}
      {habit.reminders.map((time) => (
        <span key={time} data-testid="habit-reminder">
          <span data-testid="habit-reminder-time">{time}</span>{' '}
          <button
            type="button"
            aria-label={`Remove the ${time} reminder of ${habit.name}`}
            data-testid="remove-reminder"
            disabled={state.loading}
            onClick={() => save(habit.reminders.filter((other) => other !== time))}
          >
            ×
          </button>
        </span>
      ))}
      <label>
        Remind at
        <input
          type="time"
          name="time"
          required
          aria-label={`Reminder time for ${habit.name}`}
          disabled={state.loading}
          aria-invalid={timesMessage ? true : undefined}
          data-testid="reminder-time"
        />
        <FieldError message={timesMessage} testId="reminder-error" />
      </label>
      <button type="submit" disabled={state.loading} data-testid="add-reminder">
        Add reminder
      </button>
      {!timesMessage && <ErrorText error={state.error} testId="reminder-save-error" />}
    </form>
  );
}

type Notice = { key: string; name: string; time: string };

/**
 * The user's reminders as Agora sends them, while the habits page is open. Not on every page:
 * the socket lives while a page subscribes, and one always open would renew the session each
 * time Agora closes it at the access token's expiry, so a session would never idle. Each
 * reminder goes out once per habit day (and by mail), so a notice stays until dismissed.
 */
export function ReminderNotices() {
  const [notices, setNotices] = useState<Notice[]>([]);
  useSubscription(HabitRemindersDocument, {
    onData({ data }) {
      const event = data.data?.habitReminders;
      if (!event) return;
      const notice = { key: `${event.habit.id} ${event.habitDay} ${event.time}`, name: event.habit.name, time: event.time };
      setNotices((list) => [notice, ...list.filter((other) => other.key !== notice.key)]);
    },
  });
  // Always there, so that assistive technology announces what arrives in it.
  return (
    <div aria-live="polite">
      {notices.map((notice) => (
        <p key={notice.key} className="notice" data-testid="reminder-notice">
          <span data-testid="reminder-notice-text">
            Time for {notice.name} ({notice.time})
          </span>{' '}
          <button
            type="button"
            data-testid="dismiss-reminder"
            onClick={() => setNotices((list) => list.filter((other) => other.key !== notice.key))}
          >
            Dismiss
          </button>
        </p>
      ))}
    </div>
  );
}
