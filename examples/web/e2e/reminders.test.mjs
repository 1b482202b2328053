// Habit reminders on the habits page in Chromium against a real Agora: two times set on a card
// (listed earliest first, kept across a reload), one removed, a sixth refused with the server's
// message by the field, and a reminder sent by the server's own job (run each second here)
// arriving live as a notice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { habitCards, openPage, signInToHabits } from './browser.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));

test('habit reminders in Chromium: set, reload, remove, refuse, sent live', async (t) => {
  const agora = await startAgora({ name: 'reminders', env: { AGORA_REMINDERS_INTERVAL_SECS: '1' } });
  t.after(() => agora.stop());
  const web = await startWeb(agora.url);
  t.after(() => web.close());
  await mkdir(artifacts, { recursive: true });

  const user = { username: 'ada', password: 'correct horse battery staple' };
  await agora.register(user);
  const token = await agora.apiToken(user.username, user.password);
  const habitNamed = async (name) =>
    (await agora.must('{ habits(first: 100) { edges { node { id name reminders } } } }', {}, token)).habits.edges
      .map(({ node }) => node)
      .find((habit) => habit.name === name);

  const { page, problems } = await openPage(t, { timeout: 10_000 });

  const { testId, due } = habitCards(page);
  const shot = (name) => page.screenshot({ path: `${artifacts}reminders-${name}.png`, fullPage: true });
  // The times a card lists, in their order, once they are `expected`.
  const listed = async (name, expected) => {
    const times = due(name).getByTestId('habit-reminder-time');
    const deadline = Date.now() + 10_000;
    while (JSON.stringify(await times.allInnerTexts()) !== JSON.stringify(expected) && Date.now() < deadline) await sleep(50);
    assert.deepEqual(await times.allInnerTexts(), expected);
  };
  const addReminder = async (name, time) => {
    await due(name).getByTestId('reminder-time').fill(time);
    await due(name).getByTestId('add-reminder').click();
  };

  await t.test('ada signs in and adds two daily habits', async () => {
    await signInToHabits(page, web.url, user);
    for (const name of ['Water', 'Read']) {
      await testId('habit-name').fill(name);
      await testId('habit-submit').click();
      await due(name).waitFor();
    }
    await listed('Water', []);
  });

  await t.test('two times on Water: listed earliest first, kept across a reload, one removed', async () => {
    await addReminder('Water', '21:00');
    await listed('Water', ['21:00']);
    assert.equal(await due('Water').getByTestId('reminder-time').inputValue(), '', 'the field is emptied once saved');
    await addReminder('Water', '07:30');
    await listed('Water', ['07:30', '21:00']);
    assert.deepEqual((await habitNamed('Water')).reminders, ['07:30', '21:00']);
    await listed('Read', []);
    await shot('two');

    await page.reload();
    await listed('Water', ['07:30', '21:00']);

    await due('Water').getByRole('button', { name: 'Remove the 07:30 reminder of Water' }).click();
    await listed('Water', ['21:00']);
    assert.deepEqual((await habitNamed('Water')).reminders, ['21:00']);
  });

  await t.test('a sixth time is refused with the server\'s message by the field; nothing changes', async () => {
    const five = ['06:00', '08:00', '12:00', '18:00', '22:00'];
    const { errors } = await agora.graphql(
      'mutation($input: SetHabitRemindersInput!) { setHabitReminders(input: $input) { reminders } }',
      { input: { habitId: (await habitNamed('Read')).id, times: [...five, '23:00'] } },
      token,
    );
    assert.equal(errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(errors));
    assert.equal(errors[0].extensions.field, 'times');
    for (const [count, time] of five.entries()) {
      await addReminder('Read', time);
      await listed('Read', five.slice(0, count + 1));
    }

    await addReminder('Read', '23:00');
    await due('Read').getByTestId('reminder-error').getByText(errors[0].message, { exact: true }).waitFor();
    assert.equal(await testId('reminder-save-error').count(), 0, 'said by the field only');
    assert.equal(await due('Water').getByTestId('reminder-error').count(), 0, 'by the field of the habit it was sent for');
    await listed('Read', five);
    assert.deepEqual((await habitNamed('Read')).reminders, five);
    await shot('refused');

    await due('Read').getByRole('button', { name: 'Remove the 22:00 reminder of Read' }).click();
    await listed('Read', five.slice(0, 4));
    assert.equal(await due('Read').getByTestId('reminder-error').count(), 0, 'the refusal is gone');
  });

  await t.test('the server\'s job sends a reminder: a notice on the page, live', async () => {
    // A time ahead (one set after it passed fires tomorrow), at least 10 s ahead so the form is
    // sent before it comes, and at most 70 s. Users are in UTC unless they choose a zone.
    assert.equal((await agora.must('{ me { timeZone } }', {}, token)).me.timeZone, 'UTC');
    const at = new Date(Math.floor((Date.now() + 70_000) / 60_000) * 60_000);
    const time = at.toISOString().slice(11, 16);
    await addReminder('Water', time);
    await due('Water').getByTestId('habit-reminder-time').filter({ hasText: time }).waitFor();
    assert.ok(Date.now() < at.getTime(), `saved before ${time}`);

    const notice = testId('reminder-notice').filter({ hasText: `Time for Water (${time})` });
    await notice.waitFor({ timeout: at.getTime() - Date.now() + 15_000 });
    assert.ok(Date.now() >= at.getTime(), 'not before its time');
    assert.equal(await notice.getByTestId('reminder-notice-text').innerText(), `Time for Water (${time})`);
    await shot('notice');

    await notice.getByTestId('dismiss-reminder').click();
    await notice.waitFor({ state: 'detached' });
  });

  assert.deepEqual(problems, [], 'the page ran without errors');
});
