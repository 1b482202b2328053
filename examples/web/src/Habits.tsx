import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import type { HabitFieldsFragment } from './gql/graphql';
import { editList } from './cacheLists';
import { ErrorText } from './errors';

export const HabitFields = graphql(`
  fragment HabitFields on Habit {
    id
    name
    dueToday
    completedToday
    skippedToday
    score
    currentStreak
    longestStreak
    completionRate
    schedule {
      kind
    }
  }
`);

// One list of every active habit, split by today's state on the page: a habit moves between
// "due", "skipped" and "done" as the habit a mutation returns changes in the cache, and there is
// no status filter for skipped days anyway.
const TodayDocument = graphql(`
  query Today($search: String) {
    habits(filter: { status: ACTIVE, search: $search }, first: 100) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          ...HabitFields
        }
      }
    }
  }
`);

const CompleteDocument = graphql(`
  mutation CompleteHabit($input: CompleteHabitInput!) {
    completeHabit(input: $input) {
      changed
      date
      habit {
        ...HabitFields
      }
    }
  }
`);

const SkipDocument = graphql(`
  mutation SkipHabit($input: SkipHabitInput!) {
    skipHabit(input: $input) {
      changed
      date
      habit {
        ...HabitFields
      }
    }
  }
`);

const UnskipDocument = graphql(`
  mutation UnskipHabit($input: UncompleteHabitInput!) {
    unskipHabit(input: $input) {
      changed
      date
      habit {
        ...HabitFields
      }
    }
  }
`);

const CreateHabitDocument = graphql(`
  mutation CreateHabit($input: CreateHabitInput!) {
    createHabit(input: $input) {
      habit {
        ...HabitFields
      }
    }
  }
`);

// Each filter is its own cached list (keyArgs: filter, orderBy). A new habit joins the unsearched
// list only: whether it matches a search is the server's to say.
const unsearchedList = (storeFieldName: string) => storeFieldName.includes('"ACTIVE"') && !storeFieldName.includes('"search"');

// Waits for typing to pause, so a search is one request rather than one per key.
const SEARCH_PAUSE_MS = 300;

function useSettled(value: string, ms: number) {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

// The server's sentences state the conflict ("That day is already skipped"); these also say what to do.
const HABIT_REFUSALS: Record<string, string> = {
  SKIPPED: 'That day is skipped: undo the skip before marking it done.',
  COMPLETED: 'That day is already done, so it cannot be skipped.',
  LIMIT_REACHED: 'No skips left this month for this habit.',
};

function Strength({ habit }: { habit: HabitFieldsFragment }) {
  return (
    <span className="muted">
      <span data-testid="habit-streak">streak {habit.currentStreak}</span>, <span data-testid="habit-score">Strength {habit.score.toFixed(1)}%</span>
    </span>
  );
}

export function Habits() {
  const [search, setSearch] = useState('');
  const settledSearch = useSettled(search.trim(), SEARCH_PAUSE_MS);
  // Omitted rather than empty, so the unsearched list keeps one cache key.
  const today = useQuery(TodayDocument, { variables: { search: settledSearch || undefined } });
  // The answer's habit replaces the cached one by id, and the page splits by its state: no list to edit.
  const [complete, completeState] = useMutation(CompleteDocument);
  const [skip, skipState] = useMutation(SkipDocument);
  const [unskip, unskipState] = useMutation(UnskipDocument);
  const [create, createState] = useMutation(CreateHabitDocument, {
    update(cache, { data }) {
      const habit = data?.createHabit.habit;
      if (habit) editList(cache, 'habits', habit, 'add', { accepts: unsearchedList, edgeType: 'HabitEdge' });
    },
  });
  const busy = completeState.loading || skipState.loading || unskipState.loading;

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const name = String(new FormData(formElement).get('name')).trim();
    const result = await create({ variables: { input: { name, schedule: { daily: true } } } }).catch(() => null);
    if (result?.data) formElement.reset();
  }

  // The note box serves both buttons: a reason for a skip, or a word on a done day.
  function act(event: FormEvent<HTMLFormElement>, habitId: string) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const submitter = (event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    const note = String(new FormData(formElement).get('note') ?? '').trim() || undefined;
    const input = { habitId, note };
    const done = submitter?.value === 'skip' ? skip({ variables: { input } }) : complete({ variables: { input } });
    done.then(() => formElement.reset(), () => undefined);
  }

  // Without a date the server takes back today's skip: only it knows the user's today (their
  // time zone and day start).
  function undoSkip(habitId: string) {
    unskip({ variables: { input: { habitId } } }).catch(() => undefined);
  }

  // While a new search runs, the last answer stays on screen instead of an empty page.
  const habits = (today.data ?? today.previousData)?.habits.edges.map(({ node }) => node) ?? [];
  const due = habits.filter((habit) => habit.dueToday);
  const skipped = habits.filter((habit) => habit.skippedToday);
  const done = habits.filter((habit) => habit.completedToday);
  return (
    <>
      <section>
        <label>
          Search habits and notes
          <input type="search" value={search} onChange={(event) => setSearch(event.target.value)} maxLength={100} data-testid="habit-search" />
        </label>
        {settledSearch && today.data && (
          <p className="muted" data-testid="habit-search-count">
            {today.data.habits.totalCount} matching “{settledSearch}”
          </p>
        )}
      </section>
      <section>
        <h2>Due today</h2>
        <ErrorText error={today.error} testId="habits-error" />
        <ErrorText error={completeState.error} reasons={HABIT_REFUSALS} testId="complete-error" />
        <ErrorText error={skipState.error} reasons={HABIT_REFUSALS} testId="skip-error" />
        {today.data && due.length === 0 && <p className="muted" data-testid="nothing-due">Nothing left for today.</p>}
        <ul>
          {due.map((habit) => (
            <li key={habit.id} data-testid="habit-due" data-habit-id={habit.id}>
              <form onSubmit={(event) => act(event, habit.id)}>
                <span>
                  {habit.name} <span className="muted">({habit.schedule.kind.toLowerCase()})</span> <Strength habit={habit} />
                </span>
                <input name="note" maxLength={1000} placeholder="Note (optional)" aria-label={`Note on ${habit.name}`} data-testid="habit-note" />
                <button type="submit" value="done" data-testid="complete-habit" disabled={busy}>
                  Done
                </button>
                <button type="submit" value="skip" data-testid="skip-habit" disabled={busy}>
                  Skip today
                </button>
              </form>
            </li>
          ))}
        </ul>
      </section>
      {skipped.length > 0 && (
        <section>
          <h2>Skipped today</h2>
          <ErrorText error={unskipState.error} reasons={HABIT_REFUSALS} testId="unskip-error" />
          <ul>
            {skipped.map((habit) => (
              <li key={habit.id} data-testid="habit-skipped" data-habit-id={habit.id}>
                {habit.name} <strong>Skipped</strong> <Strength habit={habit} />{' '}
                <button type="button" data-testid="unskip-habit" disabled={busy} onClick={() => undoSkip(habit.id)}>
                  Undo skip
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section>
        <h2>Done today</h2>
        <ul>
          {done.map((habit) => (
            <li key={habit.id} data-testid="habit-done" data-habit-id={habit.id}>
              {habit.name} ✓ <Strength habit={habit} />{' '}
              <span className="muted">(longest {habit.longestStreak}, {habit.completionRate}% of scheduled days)</span>
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h2>New habit</h2>
        <form onSubmit={submit} data-testid="new-habit-form">
          <label>
            Name (every day)
            <input name="name" required maxLength={100} data-testid="habit-name" />
          </label>
          <button type="submit" disabled={createState.loading} data-testid="habit-submit">
            Add habit
          </button>
          <ErrorText error={createState.error} testId="habit-create-error" />
        </form>
      </section>
    </>
  );
}
