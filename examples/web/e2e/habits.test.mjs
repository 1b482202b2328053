// The habits page in Chromium against a real Agora: skipping today with a note (no longer due,
// the streak kept), the note found by the search box, undoing the skip, the strength score after
// a done day matching the API's, a refused skip in words, and the day start set in Settings with
// the server's refusal shown by the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { habitCards, openPage, signInToHabits } from './browser.mjs';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));

test('habits in Chromium: skip with a note, search, undo, strength, day start', async (t) => {
  const agora = await startAgora({ name: 'habits' });
  t.after(() => agora.stop());
  const web = await startWeb(agora.url);
  t.after(() => web.close());
  await mkdir(artifacts, { recursive: true });

  const user = { username: 'ada', password: 'correct horse battery staple' };
  await agora.register(user);
  const token = await agora.apiToken(user.username, user.password);
  const habitsOf = async () =>
    (await agora.must('{ habits(first: 100) { edges { node { id name dueToday skippedToday score notes { date skipped note } } } } }', {}, token)).habits.edges.map(
      ({ node }) => node,
    );
  const habitNamed = async (name) => (await habitsOf()).find((habit) => habit.name === name);

  const { page, problems } = await openPage(t, { timeout: 10_000 });

  const { testId, due, skipped, done } = habitCards(page);
  const shot = (name) => page.screenshot({ path: `${artifacts}habits-${name}.png`, fullPage: true });

  await t.test('ada signs in and adds two daily habits', async () => {
    await signInToHabits(page, web.url, user);
    for (const name of ['Stretch', 'Read']) {
      await testId('habit-name').fill(name);
      await testId('habit-submit').click();
      await due(name).waitFor();
    }
    await due('Stretch').getByText('Strength 0.0%').waitFor();
  });

  await t.test('skip today with a note: shown skipped, no longer due', async () => {
    await due('Stretch').getByTestId('habit-note').fill('flu');
    await due('Stretch').getByTestId('skip-habit').click();
    await skipped('Stretch').getByText('Skipped').waitFor();
    assert.equal(await due('Stretch').count(), 0, 'no longer due');
    await skipped('Stretch').getByText('streak 0').waitFor();
    const stretch = await habitNamed('Stretch');
    assert.equal(stretch.dueToday, false);
    assert.equal(stretch.skippedToday, true);
    assert.deepEqual(
      stretch.notes.map(({ skipped, note }) => ({ skipped, note })),
      [{ skipped: true, note: 'flu' }],
    );
    await shot('skipped');
  });

  await t.test('the search box finds the note', async () => {
    await testId('habit-search').fill('flu');
    await testId('habit-search-count').getByText('1 matching “flu”').waitFor();
    await due('Read').waitFor({ state: 'detached' });
    await skipped('Stretch').waitFor();
    await testId('habit-search').fill('');
    await due('Read').waitFor();
    await testId('habit-search-count').waitFor({ state: 'detached' });
  });

  await t.test('undo the skip: due again', async () => {
    await skipped('Stretch').getByTestId('unskip-habit').click();
    await due('Stretch').waitFor();
    await skipped('Stretch').waitFor({ state: 'detached' });
    assert.equal((await habitNamed('Stretch')).dueToday, true);
  });

  await t.test('mark done: the strength shown is the API score, above 0', async () => {
    await due('Stretch').getByTestId('complete-habit').click();
    await done('Stretch').getByText('streak 1').waitFor();
    const shown = await done('Stretch').getByTestId('habit-score').innerText();
    const [, percent] = /^Strength (\d+\.\d)%$/.exec(shown) ?? [];
    assert.ok(percent, `a score is shown: ${shown}`);
    const { score } = await habitNamed('Stretch');
    assert.ok(score > 0, `score ${score} above 0`);
    assert.equal(Number(percent), score);
    await shot('done');
  });

  await t.test('a refused skip is shown in words', async () => {
    const read = await habitNamed('Read');
    await agora.must('mutation($input: UpdateHabitInput!) { updateHabit(input: $input) { habit { id } } }', { input: { id: read.id, skipsPerMonth: 0 } }, token);
    await due('Read').getByTestId('skip-habit').click();
    await testId('skip-error').getByText('No skips left this month for this habit. (CONFLICT, LIMIT_REACHED)').waitFor();
    await due('Read').waitFor();
  });

  await t.test('Settings: the day starts at 04:00; 13:00 is refused by the field', async () => {
    await testId('nav-settings').click();
    await testId('day-start').fill('04:00');
    await testId('day-start-save').click();
    await testId('day-start-saved').waitFor();
    assert.equal((await agora.must('{ me { dayStart } }', {}, token)).me.dayStart, '04:00');

    const refused = await agora.graphql('mutation { updateProfile(input: { dayStart: "13:00" }) { user { id } } }', {}, token);
    const [error] = refused.errors;
    assert.equal(error.extensions.code, 'BAD_USER_INPUT');
    assert.equal(error.extensions.field, 'dayStart');
    await testId('day-start').fill('13:00');
    await testId('day-start-save').click();
    await testId('day-start-error').getByText(error.message, { exact: true }).waitFor();
    assert.equal((await agora.must('{ me { dayStart } }', {}, token)).me.dayStart, '04:00', 'nothing changed');
    await shot('day-start');
  });

  assert.deepEqual(problems, [], 'the page ran without errors');
});
