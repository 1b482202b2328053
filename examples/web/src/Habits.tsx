import type { FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client';
import { graphql } from './gql';
import { editList } from './cacheLists';
import { ErrorText } from './errors';

export const HabitFields = graphql(`
  fragment HabitFields on Habit {
    id
    name
    dueToday
    completedToday
    currentStreak
    longestStreak
    completionRate
    schedule {
      kind
    }
  }
`);

const TodayDocument = graphql(`
  query Today {
    due: habits(filter: { status: DUE_TODAY }, first: 100) {
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
    done: habits(filter: { status: COMPLETED_TODAY }, first: 100) {
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

const CreateHabitDocument = graphql(`
  mutation CreateHabit($input: CreateHabitInput!) {
    createHabit(input: $input) {
      habit {
        ...HabitFields
      }
    }
  }
`);

// Each filter is its own cached list (keyArgs: filter, orderBy); these tell them apart.
const dueList = (storeFieldName: string) => storeFieldName.includes('"DUE_TODAY"');
const doneList = (storeFieldName: string) => storeFieldName.includes('"COMPLETED_TODAY"');

export function Habits() {
  const today = useQuery(TodayDocument);
  const [complete, completeState] = useMutation(CompleteDocument, {
    update(cache, { data }) {
      const habit = data?.completeHabit.habit;
      if (!habit) return;
      editList(cache, 'habits', habit, 'remove', { accepts: dueList, edgeType: 'HabitEdge' });
      editList(cache, 'habits', habit, 'add', { accepts: doneList, edgeType: 'HabitEdge' });
    },
  });
  const [create, createState] = useMutation(CreateHabitDocument, {
    update(cache, { data }) {
      const habit = data?.createHabit.habit;
      if (habit?.dueToday) editList(cache, 'habits', habit, 'add', { accepts: dueList, edgeType: 'HabitEdge' });
    },
  });

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const name = String(new FormData(formElement).get('name')).trim();
    const result = await create({ variables: { input: { name, schedule: { daily: true } } } }).catch(() => null);
    if (result?.data) formElement.reset();
  }

  const due = today.data?.due.edges ?? [];
  const done = today.data?.done.edges ?? [];
  return (
    <>
      <section>
        <h2>Due today</h2>
        <ErrorText error={today.error} testId="habits-error" />
        <ErrorText error={completeState.error} testId="complete-error" />
        {today.data && due.length === 0 && <p className="muted" data-testid="nothing-due">Nothing left for today.</p>}
        <ul>
          {due.map(({ node }) => (
            <li key={node.id} data-testid="habit-due" data-habit-id={node.id}>
              {node.name} <span className="muted">({node.schedule.kind.toLowerCase()}, streak {node.currentStreak})</span>{' '}
              <button type="button" data-testid="complete-habit" disabled={completeState.loading} onClick={() => complete({ variables: { input: { habitId: node.id } } }).catch(() => undefined)}>
                Done
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h2>Done today</h2>
        <ul>
          {done.map(({ node }) => (
            <li key={node.id} data-testid="habit-done" data-habit-id={node.id}>
              {node.name} ✓ <span data-testid="habit-streak">streak {node.currentStreak}</span>{' '}
              <span className="muted">(longest {node.longestStreak}, {node.completionRate}% of scheduled days)</span>
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
