// `npm run dev` straight after `npm ci`, as the README's "try it by hand" steps run it: the typed
// documents in src/gql/ are generated (not committed), so the dev script must make them itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './server.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const generated = join(root, 'src/gql');
const exists = (path) => access(path).then(() => true, () => false);

test('npm run dev serves the app on a fresh checkout, before any codegen', async (t) => {
  const aside = await mkdtemp(join(tmpdir(), 'agora-gql-'));
  if (await exists(generated)) await rename(generated, join(aside, 'gql'));
  t.after(async () => {
    // The dev script regenerates src/gql; put the earlier copy back only if it did not.
    if (!(await exists(generated)) && (await exists(join(aside, 'gql')))) {
      await rename(join(aside, 'gql'), generated);
    }
    await rm(aside, { recursive: true, force: true });
  });
  const port = await freePort();
  const dev = spawn('npm', ['run', 'dev', '--', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  dev.stdout.on('data', (chunk) => (output += chunk));
  dev.stderr.on('data', (chunk) => (output += chunk));
  t.after(() => process.kill(-dev.pid, 'SIGTERM'));

  // Vite compiles a module when it is asked for; App.tsx imports the generated documents.
  const deadline = Date.now() + 90_000;
  let answer;
  while (Date.now() < deadline) {
    answer = await fetch(`http://127.0.0.1:${port}/src/App.tsx`).catch(() => undefined);
    if (answer) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(answer, `the dev server did not answer within 90 s:\n${output}`);
  const body = await answer.text();
  assert.equal(answer.status, 200, `App.tsx did not compile:\n${body.slice(0, 500)}\n${output}`);
});
