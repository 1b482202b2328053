// Habits out and in through the habits page in Chromium against a real Agora: ada's exports
// downloaded as the server names them (Agora's JSON; Loop's CSV zip, read here with its
// `Habits.csv`), then that zip imported by bob through the file input: the report of a first
// import (one habit created, its day added, the list refreshed), of the same file again (matched,
// nothing added), of a day bob holds otherwise (the refused row as the API reports it), and a
// file that is no export refused by the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { launchChromium, signInToHabits } from './browser.mjs';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));

/** A zip's files by name, read through its central directory (stored or deflated entries). */
function unzip(zip) {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, 'a zip has an end of central directory');
  const files = new Map();
  let at = zip.readUInt32LE(end + 16);
  for (let count = zip.readUInt16LE(end + 10); count > 0; count--) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, 'a central directory entry');
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const local = zip.readUInt32LE(at + 42);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + size);
    assert.ok(method === 0 || method === 8, `${name}: stored or deflated, not method ${method}`);
    files.set(name, method === 8 ? inflateRawSync(data) : data);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return files;
}

test('habit files in Chromium: export JSON and Loop CSV, import Loop CSV twice, a conflict, a bad file', async (t) => {
  const agora = await startAgora({ name: 'habit-io' });
  t.after(() => agora.stop());
  const web = await startWeb(agora.url);
  t.after(() => web.close());
  await mkdir(artifacts, { recursive: true });

  const ada = { username: 'ada', password: 'correct horse battery staple' };
  const bob = { username: 'bob', password: 'another horse battery staple' };
  await agora.register(ada);
  await agora.register(bob);
  const adaToken = await agora.apiToken(ada.username, ada.password);
  const bobToken = await agora.apiToken(bob.username, bob.password);
  const habitsOf = async (token) =>
    (await agora.must('{ habits(first: 100) { edges { node { id name completedToday skippedToday } } } }', {}, token)).habits.edges.map(
      ({ node }) => node,
    );
  const exported = async (format) => (await agora.must('query($f: HabitExportFormat!) { exportHabits(format: $f) { filename contentType base64 } }', { f: format }, adaToken)).exportHabits;

  const browser = await launchChromium();
  t.after(() => browser.close());
  const problems = [];
  // Each person in a browser context of their own, signed in on the habits page.
  const signedIn = async (user) => {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => problems.push(`${user.username} pageerror: ${error.message}`));
    page.on('console', (message) => message.type() === 'error' && problems.push(`${user.username} console: ${message.text()}`));
    await signInToHabits(page, web.url, user);
    await page.getByTestId('habit-name').waitFor();
    return page;
  };
  // The file a button downloads: { name, bytes }.
  const download = async (page, testId) => {
    const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
    return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
  };

  const adaPage = await signedIn(ada);
  let loopZip;

  await t.test('ada adds "Water" and marks it done today', async () => {
    await adaPage.getByTestId('habit-name').fill('Water');
    await adaPage.getByTestId('habit-submit').click();
    await adaPage.getByTestId('habit-due').filter({ hasText: 'Water' }).getByTestId('complete-habit').click();
    await adaPage.getByTestId('habit-done').filter({ hasText: 'Water' }).waitFor();
  });

  await t.test('Export (JSON) downloads Agora\'s JSON under the server\'s name', async () => {
    const file = await download(adaPage, 'export-json');
    const api = await exported('JSON');
    assert.equal(file.name, api.filename);
    assert.match(file.name, /\.json$/);
    const json = JSON.parse(file.bytes.toString('utf8'));
    assert.deepEqual(json, JSON.parse(Buffer.from(api.base64, 'base64').toString('utf8')), 'the bytes the API gives');
    assert.ok(JSON.stringify(json).includes('"Water"'), 'it holds the habit');
  });

  await t.test('Export (Loop CSV) downloads a zip whose Habits.csv names the habit', async () => {
    const file = await download(adaPage, 'export-loop');
    assert.equal(file.name, (await exported('LOOP_CSV')).filename);
    assert.match(file.name, /\.zip$/);
    const files = unzip(file.bytes);
    assert.ok(files.has('Habits.csv'), `Habits.csv among ${[...files.keys()].join(', ')}`);
    assert.match(files.get('Habits.csv').toString('utf8'), /Water/);
    loopZip = { name: file.name, mimeType: 'application/zip', buffer: file.bytes };
  });

  const bobPage = await signedIn(bob);
  const report = async (counts) => {
    for (const [key, value] of Object.entries(counts)) {
      await bobPage.getByTestId(`import-${key}`).filter({ hasText: new RegExp(`^${value}$`) }).waitFor();
    }
  };
  const importFile = (file) => bobPage.getByTestId('import-file').setInputFiles(file);

  await t.test('bob imports that zip: one habit created with its day, and listed', async () => {
    assert.deepEqual(await habitsOf(bobToken), []);
    await importFile(loopZip);
    await report({ habitsCreated: 1, habitsMatched: 0, daysAdded: 1, daysUnchanged: 0 });
    await bobPage.getByTestId('import-nothing-refused').waitFor();
    await bobPage.getByTestId('import-report').getByText(`Imported ${loopZip.name}.`).waitFor();
    await bobPage.getByTestId('habit-done').filter({ hasText: 'Water' }).waitFor();
    const habits = await habitsOf(bobToken);
    assert.deepEqual(
      habits.map(({ name, completedToday }) => ({ name, completedToday })),
      [{ name: 'Water', completedToday: true }],
    );
    await bobPage.screenshot({ path: `${artifacts}habit-io-imported.png`, fullPage: true });
  });

  await t.test('the same zip again: the habit matched, nothing added', async () => {
    await importFile(loopZip);
    await report({ habitsCreated: 0, habitsMatched: 1, daysAdded: 0, daysUnchanged: 1 });
    await bobPage.getByTestId('import-nothing-refused').waitFor();
    assert.equal((await habitsOf(bobToken)).length, 1);
  });

  await t.test('a day bob holds otherwise is kept and its row shown refused, as the API reports it', async () => {
    const [water] = await habitsOf(bobToken);
    for (const mutation of ['uncompleteHabit', 'skipHabit']) {
      await agora.must(`mutation($id: ID!) { ${mutation}(input: { habitId: $id }) { changed } }`, { id: water.id }, bobToken);
    }
    const { importHabits: api } = await agora.must(
      'mutation($input: ImportHabitsInput!) { importHabits(input: $input) { refused { file line reason message } } }',
      { input: { format: 'LOOP_CSV', data: loopZip.buffer.toString('base64') } },
      bobToken,
    );
    assert.equal(api.refused.length, 1, JSON.stringify(api.refused));
    const [row] = api.refused;
    assert.equal(row.reason, 'CONFLICT');

    await importFile(loopZip);
    await report({ habitsMatched: 1, daysAdded: 0, daysUnchanged: 0 });
    const shown = bobPage.getByTestId('import-refused');
    await shown.waitFor();
    assert.equal(await shown.count(), 1);
    assert.deepEqual(await shown.locator('td').allInnerTexts(), [row.file, String(row.line), row.reason, row.message]);
    await bobPage.getByTestId('habit-skipped').filter({ hasText: 'Water' }).waitFor();
    assert.equal((await habitsOf(bobToken))[0].skippedToday, true, 'what bob holds is kept');
    await bobPage.screenshot({ path: `${artifacts}habit-io-refused.png`, fullPage: true });
  });

  await t.test('a file that is no export is refused by the field with the server\'s message', async () => {
    const notes = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a zip') };
    const { errors } = await agora.graphql(
      'mutation($input: ImportHabitsInput!) { importHabits(input: $input) { habitsCreated } }',
      { input: { format: 'LOOP_CSV', data: notes.buffer.toString('base64') } },
      bobToken,
    );
    assert.equal(errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(errors));
    assert.equal(errors[0].extensions.field, 'data');
    await importFile(notes);
    await bobPage.getByTestId('import-file-error').getByText(errors[0].message, { exact: true }).waitFor();
    assert.equal(await bobPage.getByTestId('import-error').count(), 0, 'said by the field only');
    assert.equal(await bobPage.getByTestId('import-report').count(), 0, 'no report');
  });

  assert.deepEqual(problems, [], 'the pages ran without errors');
});
