// Measurable habits on the habits page in Chromium against a real Agora: "Water" created as at
// least 8 glasses, 5 recorded (shown against the target, still due), -1 refused by the field with
// the server's message and nothing recorded, 8 recorded (done, the strength the API's), kept
// across a reload, cleared (due again), skipped; and an "at most" habit whose bad target and unit
// are refused by their fields, then created, kept with 0 and gone over the limit from the done list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { habitCards, openPage, signInToHabits } from './browser.mjs';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));

test('measurable habits in Chromium: record, refuse, meet, reload, clear, skip, field errors', async (t) => {
  const agora = await startAgora({ name: 'measurable' });
  t.after(() => agora.stop());
  const web = await startWeb(agora.url);
  t.after(() => web.close());
  await mkdir(artifacts, { recursive: true });

  const user = { username: 'ada', password: 'correct horse battery staple' };
  await agora.register(user);
  const token = await agora.apiToken(user.username, user.password);
  const habitNamed = async (name) =>
    (
      await agora.must(
        `{ habits(first: 100) { edges { node { id name dueToday completedToday skippedToday todayValue score
             measure { unit target direction } values { value met note } } } } }`,
        {},
        token,
      )
    ).habits.edges
      .map(({ node }) => node)
      .find((habit) => habit.name === name);
  // The server's own refusal of an input, to find word for word on the page.
  const refusal = async (query, variables, field) => {
    const { errors } = await agora.graphql(query, variables, token);
    assert.equal(errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(errors));
    assert.equal(errors[0].extensions.field, field);
    return errors[0].message;
  };

  const { page, problems } = await openPage(t, { timeout: 10_000 });

  const { testId, due, skipped, done } = habitCards(page);
  const shot = (name) => page.screenshot({ path: `${artifacts}measurable-${name}.png`, fullPage: true });
  // Waits until the card's element reads exactly `text`.
  const shows = async (card, id, text) => {
    await card.getByTestId(id).filter({ hasText: text }).waitFor();
    assert.equal(await card.getByTestId(id).innerText(), text);
  };
  const record = async (card, value) => {
    await card.getByTestId('habit-value-input').fill(String(value));
    await card.getByTestId('record-value').click();
  };
  const newHabit = async ({ name, direction, target, unit }) => {
    await testId('habit-name').fill(name);
    if (!(await testId('habit-measurable').isChecked())) await testId('habit-measurable').check();
    await testId('habit-direction').selectOption(direction);
    await testId('habit-target').fill(String(target));
    await testId('habit-unit').fill(unit);
    await testId('habit-submit').click();
  };

  await t.test('ada signs in and adds "Water", at least 8 glasses', async () => {
    await signInToHabits(page, web.url, user);
    await newHabit({ name: 'Water', direction: 'AT_LEAST', target: 8, unit: 'glasses' });
    await shows(due('Water'), 'habit-measure', '≥ 8 glasses');
    await shows(due('Water'), 'habit-value', 'nothing recorded today');
    assert.equal(await due('Water').getByTestId('complete-habit').count(), 0, 'no tick for a measurable habit');
    assert.equal(await due('Water').getByTestId('clear-value').count(), 0, 'nothing to clear yet');
    await testId('habit-measurable').waitFor({ state: 'visible' });
    assert.equal(await testId('habit-target').count(), 0, 'the form is back to a yes/no habit');
    const water = await habitNamed('Water');
    assert.deepEqual(water.measure, { unit: 'glasses', target: 8, direction: 'AT_LEAST' });
    assert.equal(water.todayValue, null);
  });

  await t.test('5 glasses with a note: 5 / 8, not yet met, still due', async () => {
    await due('Water').getByTestId('habit-note').fill('hot day');
    await record(due('Water'), 5);
    await shows(due('Water'), 'habit-value', '5 / 8 glasses');
    await shows(due('Water'), 'habit-met', 'Not yet');
    assert.equal(await done('Water').count(), 0, 'not done');
    assert.equal(await due('Water').getByTestId('habit-note').inputValue(), '', 'the form is emptied once recorded');
    const water = await habitNamed('Water');
    assert.equal(water.todayValue, 5);
    assert.equal(water.dueToday, true);
    assert.equal(water.completedToday, false);
    assert.deepEqual(water.values, [{ value: 5, met: false, note: 'hot day' }]);
    await shot('partial');
  });

  await t.test('-1 is refused by the field with the server\'s message; nothing is recorded', async () => {
    const message = await refusal(
      'mutation($input: RecordHabitValueInput!) { recordHabitValue(input: $input) { changed } }',
      { input: { habitId: (await habitNamed('Water')).id, value: -1 } },
      'value',
    );
    await record(due('Water'), -1);
    await shows(due('Water'), 'habit-value-error', message);
    assert.equal(await testId('record-error').count(), 0, 'said by the field, not again above the list');
    await shows(due('Water'), 'habit-value', '5 / 8 glasses');
    assert.equal((await habitNamed('Water')).todayValue, 5);
    await shot('refused');
  });

  await t.test('8 glasses: done, no longer due, the strength the API\'s', async () => {
    await record(due('Water'), 8);
    await shows(done('Water'), 'habit-value', '8 / 8 glasses');
    await shows(done('Water'), 'habit-met', 'Done');
    assert.equal(await due('Water').count(), 0, 'no longer due');
    assert.equal(await testId('habit-value-error').count(), 0, 'the refusal is gone');
    await testId('nothing-due').waitFor();
    const water = await habitNamed('Water');
    assert.equal(water.completedToday, true);
    assert.equal(water.dueToday, false);
    assert.deepEqual(water.values, [{ value: 8, met: true, note: 'hot day' }], 'the note is kept');
    assert.ok(water.score > 0, `score ${water.score} above 0`);
    await shows(done('Water'), 'habit-score', `Strength ${water.score.toFixed(1)}%`);
    await shot('met');
  });

  await t.test('a reload shows the same day', async () => {
    await page.reload();
    await shows(done('Water'), 'habit-value', '8 / 8 glasses');
    await shows(done('Water'), 'habit-met', 'Done');
    assert.equal(await due('Water').count(), 0);
  });

  await t.test('Clear: due again, nothing recorded', async () => {
    await done('Water').getByTestId('clear-value').click();
    await shows(due('Water'), 'habit-value', 'nothing recorded today');
    assert.equal(await done('Water').count(), 0, 'no longer done');
    assert.equal(await due('Water').getByTestId('habit-met').count(), 0);
    const water = await habitNamed('Water');
    assert.equal(water.todayValue, null);
    assert.equal(water.dueToday, true);
    assert.deepEqual(water.values, []);
    await shows(due('Water'), 'habit-score', `Strength ${water.score.toFixed(1)}%`);
  });

  await t.test('Skip today works for a measurable habit, with no value typed', async () => {
    await due('Water').getByTestId('skip-habit').click();
    await skipped('Water').getByText('Skipped').waitFor();
    assert.equal(await due('Water').count(), 0, 'no longer due');
    assert.equal((await habitNamed('Water')).skippedToday, true);
  });

  await t.test('"Coffee", at most: a bad target and a long unit are refused by their fields', async () => {
    const createHabit = 'mutation($input: CreateHabitInput!) { createHabit(input: $input) { habit { id } } }';
    const coffee = { name: 'Coffee', schedule: { daily: true } };
    const targetMessage = await refusal(createHabit, { input: { ...coffee, measure: { unit: 'cups', target: -1, direction: 'AT_MOST' } } }, 'measure.target');
    const longUnit = 'cups of strong coffee';
    const unitMessage = await refusal(createHabit, { input: { ...coffee, measure: { unit: longUnit, target: 2, direction: 'AT_MOST' } } }, 'measure.unit');

    await newHabit({ name: 'Coffee', direction: 'AT_MOST', target: -1, unit: 'cups' });
    await testId('habit-target-error').getByText(targetMessage, { exact: true }).waitFor();
    assert.equal(await testId('habit-unit-error').count(), 0);
    assert.equal(await testId('habit-create-error').count(), 0, 'said by the field only');
    await shot('bad-target');

    await newHabit({ name: 'Coffee', direction: 'AT_MOST', target: 2, unit: longUnit });
    await testId('habit-unit-error').getByText(unitMessage, { exact: true }).waitFor();
    assert.equal(await testId('habit-target-error').count(), 0);
    assert.equal(await due('Coffee').count(), 0, 'nothing created');
    assert.equal(await habitNamed('Coffee'), undefined);
  });

  await t.test('"Coffee" at most 2 cups: kept with 0, then over the limit from the done list', async () => {
    await newHabit({ name: 'Coffee', direction: 'AT_MOST', target: 2, unit: 'cups' });
    await shows(due('Coffee'), 'habit-measure', '≤ 2 cups');
    assert.equal(await testId('habit-unit-error').count(), 0);
    assert.deepEqual((await habitNamed('Coffee')).measure, { unit: 'cups', target: 2, direction: 'AT_MOST' });
    await record(due('Coffee'), 0);
    await shows(done('Coffee'), 'habit-value', '0 / 2 cups');
    await record(done('Coffee'), 3);
    await shows(due('Coffee'), 'habit-value', '3 / 2 cups');
    await shows(due('Coffee'), 'habit-met', 'Over the limit');
    const coffee = await habitNamed('Coffee');
    assert.equal(coffee.todayValue, 3);
    assert.equal(coffee.completedToday, false);
    await shot('over');
  });

  assert.deepEqual(problems, [], 'the page ran without errors');
});
