import { useEffect, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import type { HabitFieldsFragment, TargetDirection } from './gql/graphql';
import { editList } from './cacheLists';
import { ErrorText, FieldError, fieldMessage } from './errors';
import { HabitReminders, ReminderNotices } from './Reminders';
import { HabitFiles } from './HabitFiles';

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
    measure {
      unit
      target
      direction
    }
    todayValue
    reminders
  }
`);

// What each of a day's mutations answers: the habit as it is now, so the cache moves it between
// the page's lists.
graphql(`
  fragment DayChangeFields on CompletionPayload {
    changed
    date
    habit {
      ...HabitFields
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
      ...DayChangeFields
    }
  }
`);

const SkipDocument = graphql(`
  mutation SkipHabit($input: SkipHabitInput!) {
    skipHabit(input: $input) {
      ...DayChangeFields
    }
  }
`);

const UnskipDocument = graphql(`
  mutation UnskipHabit($input: UncompleteHabitInput!) {
    unskipHabit(input: $input) {
      ...DayChangeFields
    }
  }
`);

const RecordValueDocument = graphql(`
  mutation RecordHabitValue($input: RecordHabitValueInput!) {
    recordHabitValue(input: $input) {
      ...DayChangeFields
    }
  }
`);

const UncompleteDocument = graphql(`
  mutation UncompleteHabit($input: UncompleteHabitInput!) {
    uncompleteHabit(input: $input) {
      ...DayChangeFields
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

type Measure = NonNullable<HabitFieldsFragment['measure']>;

// A unit may be empty: the number then stands alone.
const amount = (value: number, unit: string) => (unit ? `${value} ${unit}` : String(value));

/**
 * A measurable habit's day, inside the card's form: its target, today's value against it and a
 * field to record another. Whether the value meets the target is the server's `completedToday`.
 * `children` go between the field and the Record button (the due card's note).
 */
function MeasuredDay({
  habit,
  measure,
  valueMessage,
  busy,
  onClear,
  children,
}: {
  habit: HabitFieldsFragment;
  measure: Measure;
  valueMessage: string | null;
  busy: boolean;
  onClear: () => void;
  children?: ReactNode;
}) {
  const recorded = habit.todayValue !== null;
  const unmet = measure.direction === 'AT_LEAST' ? 'Not yet' : 'Over the limit';
  return (
    <>
      <span data-testid="habit-measure">
        {measure.direction === 'AT_LEAST' ? '≥' : '≤'} {amount(measure.target, measure.unit)}
      </span>
      <span data-testid="habit-value">{recorded ? `${habit.todayValue} / ${amount(measure.target, measure.unit)}` : 'nothing recorded today'}</span>
      {recorded && <strong data-testid="habit-met">{habit.completedToday ? 'Done' : unmet}</strong>}
      {/* No min or max: Agora decides (0 to 1,000,000,000), and its message shows by the field. */}
      <label>
        Today{measure.unit && ` (${measure.unit})`}
        <input
          type="number"
          name="value"
          step="any"
          required
          aria-label={`Value of ${habit.name} today`}
          aria-invalid={valueMessage ? true : undefined}
          data-testid="habit-value-input"
        />
        <FieldError message={valueMessage} testId="habit-value-error" />
      </label>
      {children}
      <button type="submit" value="record" data-testid="record-value" disabled={busy}>
        Record
      </button>
      {recorded && (
        <button type="button" data-testid="clear-value" disabled={busy} onClick={onClear}>
          Clear
        </button>
      )}
    </>
  );
}

/** The form for a new daily habit, yes/no or measurable. */
function NewHabit() {
  const [measurable, setMeasurable] = useState(false);
  const [create, createState] = useMutation(CreateHabitDocument, {
    update(cache, { data }) {
      const habit = data?.createHabit.habit;
      if (habit) editList(cache, 'habits', habit, 'add', { accepts: unsearchedList, edgeType: 'HabitEdge' });
    },
  });
  const targetMessage = fieldMessage(createState.error, 'measure.target');
  const unitMessage = fieldMessage(createState.error, 'measure.unit');

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const name = String(form.get('name')).trim();
    const measure = measurable
      ? { unit: String(form.get('unit')), target: Number(form.get('target')), direction: form.get('direction') as TargetDirection }
      : undefined;
    const result = await create({ variables: { input: { name, schedule: { daily: true }, measure } } }).catch(() => null);
    if (result?.data) {
      formElement.reset();
      setMeasurable(false);
    }
  }

  return (
    <section>
      <h2>New habit</h2>
      <form onSubmit={submit} data-testid="new-habit-form">
        <label>
          Name (every day)
          <input name="name" required maxLength={100} data-testid="habit-name" />
        </label>
        <label>
          Measurable
          <input type="checkbox" checked={measurable} onChange={(event) => setMeasurable(event.target.checked)} data-testid="habit-measurable" />
        </label>
        {measurable && (
          <>
            <label>
              Direction
              <select name="direction" defaultValue="AT_LEAST" data-testid="habit-direction">
                <option value="AT_LEAST">At least</option>
                <option value="AT_MOST">At most</option>
              </select>
            </label>
            {/* No bounds here either: the server's limits (above 0 for "at least") show by the field. */}
            <label>
              Target
              <input type="number" name="target" step="any" required aria-invalid={targetMessage ? true : undefined} data-testid="habit-target" />
              <FieldError message={targetMessage} testId="habit-target-error" />
            </label>
            <label>
              Unit
              <input name="unit" placeholder="glasses" aria-invalid={unitMessage ? true : undefined} data-testid="habit-unit" />
              <FieldError message={unitMessage} testId="habit-unit-error" />
            </label>
          </>
        )}
        <button type="submit" disabled={createState.loading} data-testid="habit-submit">
          Add habit
        </button>
        {!targetMessage && !unitMessage && <ErrorText error={createState.error} testId="habit-create-error" />}
      </form>
    </section>
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
  const [record, recordState] = useMutation(RecordValueDocument);
  const [uncomplete, uncompleteState] = useMutation(UncompleteDocument);
  // The habit whose value was last sent, so a refusal of the value shows by that habit's field.
  const [recordedId, setRecordedId] = useState<string | null>(null);
  const valueMessage = fieldMessage(recordState.error, 'value');
  const busy = completeState.loading || skipState.loading || unskipState.loading || recordState.loading || uncompleteState.loading;

  // The note box serves every button: a reason for a skip, or a word on a done or measured day.
  function act(event: FormEvent<HTMLFormElement>, habitId: string) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const submitter = (event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    const form = new FormData(formElement);
    const note = String(form.get('note') ?? '').trim() || undefined;
    const input = { habitId, note };
    const action = submitter?.value;
    if (action === 'record') setRecordedId(habitId);
    const done =
      action === 'skip'
        ? skip({ variables: { input } })
        : action === 'record'
          ? record({ variables: { input: { ...input, value: Number(form.get('value')) } } })
          : complete({ variables: { input } });
    done.then(() => formElement.reset(), () => undefined);
  }

  // Without a date the server takes back today's skip or value: only it knows the user's today
  // (their time zone and day start).
  function undoSkip(habitId: string) {
    unskip({ variables: { input: { habitId } } }).catch(() => undefined);
  }
  function clearValue(habitId: string) {
    uncomplete({ variables: { input: { habitId } } }).catch(() => undefined);
  }

  const measuredDay = (habit: HabitFieldsFragment, measure: Measure, note?: ReactNode) => (
    <MeasuredDay
      habit={habit}
      measure={measure}
      valueMessage={recordedId === habit.id ? valueMessage : null}
      busy={busy}
      onClear={() => clearValue(habit.id)}
    >
      {note}
    </MeasuredDay>
  );

  // While a new search runs, the last answer stays on screen instead of an empty page.
  const habits = (today.data ?? today.previousData)?.habits.edges.map(({ node }) => node) ?? [];
  const due = habits.filter((habit) => habit.dueToday);
  const skipped = habits.filter((habit) => habit.skippedToday);
  const done = habits.filter((habit) => habit.completedToday);
  return (
    <>
      <ReminderNotices />
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
        {!valueMessage && <ErrorText error={recordState.error} reasons={HABIT_REFUSALS} testId="record-error" />}
        <ErrorText error={uncompleteState.error} testId="clear-error" />
        {today.data && due.length === 0 && <p className="muted" data-testid="nothing-due">Nothing left for today.</p>}
        <ul>
          {due.map((habit) => {
            const note = <input name="note" maxLength={1000} placeholder="Note (optional)" aria-label={`Note on ${habit.name}`} data-testid="habit-note" />;
            return (
              <li key={habit.id} data-testid="habit-due" data-habit-id={habit.id}>
                <form onSubmit={(event) => act(event, habit.id)}>
                  <span>
                    {habit.name} <span className="muted">({habit.schedule.kind.toLowerCase()})</span> <Strength habit={habit} />
                  </span>
                  {habit.measure ? (
                    measuredDay(habit, habit.measure, note)
                  ) : (
                    <>
                      {note}
                      <button type="submit" value="done" data-testid="complete-habit" disabled={busy}>
                        Done
                      </button>
                    </>
                  )}
                  {/* A skip needs no value: the form's required field does not hold it back. */}
                  <button type="submit" value="skip" formNoValidate data-testid="skip-habit" disabled={busy}>
                    Skip today
                  </button>
                </form>
                <HabitReminders habit={habit} />
              </li>
            );
          })}
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
                <HabitReminders habit={habit} />
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
              {/* A met value may still change: an "at most" day recorded as 0 can go over later. */}
              {habit.measure && <form onSubmit={(event) => act(event, habit.id)}>{measuredDay(habit, habit.measure)}</form>}
              <HabitReminders habit={habit} />
            </li>
          ))}
        </ul>
      </section>
      <NewHabit />
      <HabitFiles />
    </>
  );
}
