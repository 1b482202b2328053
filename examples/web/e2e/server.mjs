// A real Agora server for one test: a fresh, uniquely named database on the machine's Postgres,
// `target/debug/agora serve` on a free port, and helpers to talk to it. stop() kills the server
// and drops the database. The server's log goes to e2e/artifacts/ (see startAgora).
import { spawn, execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
export const AGORA_BIN = process.env.AGORA_BIN ?? join(repo, 'target/debug/agora');
const PG = process.env.AGORA_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

// Every port freePort() has handed out in this process.
const handedOut = new Set();

/**
 * A port nobody listens on right now, and one this process has not been given before: the
 * kernel picks it (listen on port 0), we close it, and the caller's server binds the number
 * later. Between the two nobody holds the port, and the kernel may pick the same number again
 * for the next listen(0) (here about one triple of picks in 1,700 had a repeat). A test that
 * chooses several ports ahead, such as oidc.test.mjs (Agora's, whose callback the OpenID
 * provider must know before either starts; the app's; the provider's; Agora's metrics port),
 * then sometimes gave Agora's number to the provider too, and whichever bound second failed with
 * "Address already in use". So a number is never handed out twice: each server a test starts
 * gets a port of its own, and port 0 is never passed on (the provider gets a freePort() too).
 * What remains is another process, or an outgoing connection's local port, taking the number
 * in that moment: the kernel does not hand out a port being listened on, and an outgoing
 * connection prefers even ports where listen(0) gives odd ones, so that is rarer still.
 */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function dropDatabase(name) {
  await run('psql', [`${PG}/postgres`, '-qXc', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`]);
}

/**
 * Starts Agora. `env` adds to or overrides the defaults below (all strings); `name` names the
 * log file; `port`, one chosen beforehand (freePort), for a peer that must know Agora's address
 * before it starts (an OpenID provider's registered redirect URI).
 * Returns { url, port, database, env, logFile, graphql, login, register, createAdmin, stop }.
 */
export async function startAgora({ env = {}, name, port } = {}) {
  const database = `agora_e2e_${process.pid}_${randomBytes(4).toString('hex')}`;
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'agora-e2e-'));
  await mkdir(artifacts, { recursive: true });
  // Named servers log to agora-<name>.log (replaced on each run), others to <database>.log.
  const logFile = join(artifacts, name ? `agora-${name}.log` : `${database}.log`);
  const log = createWriteStream(logFile);
  const serverEnv = {
    ...process.env,
    DATABASE_URL: `${PG}/${database}`,
    AGORA_LISTEN: `127.0.0.1:${port}`,
    // Two servers may run at once (two instances); each needs a metrics port of its own.
    AGORA_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
    // No AGORA_PUBLIC_URL: mailed links lead to the port the server listens on.
    AGORA_ENV: 'development',
    AGORA_COOKIE_SECURE: 'false',
    AGORA_OUTBOX_POLL_MS: '200',
    AGORA_DATA_DIR: dataDir,
    // Cheap password hashing keeps a debug build quick; the algorithm is the same.
    AGORA_ARGON2_M_KIB: '256',
    AGORA_ARGON2_T: '1',
    AGORA_SHUTDOWN_DEADLINE_SECS: '2',
    RUST_LOG: process.env.RUST_LOG ?? 'info',
    ...env,
  };
  const child = spawn(AGORA_BIN, ['serve'], { env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let exitInfo = null;
  exited.then((info) => (exitInfo = info));
  const spawnFailed = new Promise((_, reject) => child.once('error', reject));

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (!exitInfo) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
    await dropDatabase(database).catch((error) => console.error(`dropping ${database}: ${error.message}`));
    await rm(dataDir, { recursive: true, force: true });
  }

  // Ready when /healthz answers (the database is created and migrated before the server listens).
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (exitInfo) throw new Error(`agora exited (${JSON.stringify(exitInfo)}) before it was ready; see ${logFile}`);
      if (Date.now() > deadline) throw new Error(`agora was not ready within 60 s; see ${logFile}`);
      const ok = await Promise.race([
        fetch(`${url}/healthz`).then((response) => response.ok, () => false),
        spawnFailed,
      ]);
      if (ok) break;
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  /** POST /graphql as JSON; `token` goes in `Authorization: Bearer`. Resolves to the parsed body. */
  async function graphql(query, variables = {}, token) {
    const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`HTTP ${response.status} from /graphql, not JSON: ${text.slice(0, 500)}`);
    }
  }

  /** Data of an operation that must succeed; throws with the whole answer otherwise. */
  async function must(query, variables, token) {
    const answer = await graphql(query, variables, token);
    if (answer.errors?.length || !answer.data) throw new Error(`GraphQL failed: ${JSON.stringify(answer)}`);
    return answer.data;
  }

  /** Registers an account; returns its user { id username }. */
  async function register({ username, email = `${username}@example.com`, password }) {
    const data = await must(
      'mutation($input: RegisterInput!) { register(input: $input) { user { id username } } }',
      { input: { username, email, password } },
    );
    return data.register.user;
  }

  /** Signs in without 2FA; returns { accessToken, refreshToken, user { id username } }. */
  async function login(loginName, password) {
    const data = await must(
      `mutation($input: LoginInput!) { login(input: $input) {
        __typename ... on AuthPayload { accessToken refreshToken user { id username } } } }`,
      { input: { login: loginName, password } },
    );
    if (data.login.__typename !== 'AuthPayload') throw new Error(`login of ${loginName} answered ${data.login.__typename}`);
    return data.login;
  }

  /**
   * A long-lived API token (`agora_pat_…`) holding every permission of the account, for test
   * code that must outlive a short AGORA_ACCESS_TTL_SECS.
   */
  async function apiToken(loginName, password) {
    const session = await login(loginName, password);
    const { me } = await must('{ me { permissions } }', {}, session.accessToken);
    const data = await must(
      'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }',
      { input: { name: `e2e ${randomBytes(3).toString('hex')}`, permissions: me.permissions, password } },
      session.accessToken,
    );
    return data.createApiToken.token;
  }

  let admin;
  /**
   * The administrator `root` (made once with `agora admin create-user`):
   * { id, username, password, token } where token is an API token with every permission.
   */
  async function createAdmin() {
    if (admin) return admin;
    const password = 'root e2e password';
    const child = execFile(
      AGORA_BIN,
      ['admin', 'create-user', '--username', 'root', '--email', 'root@example.com', '--role', 'admin'],
      { env: serverEnv },
    );
    const done = new Promise((resolve, reject) => {
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`admin create-user exited ${code}: ${output}`))));
    });
    child.stdin.end(`${password}\n`);
    await done;
    const session = await login('root', password);
    admin = { id: session.user.id, username: 'root', password, token: await apiToken('root', password) };
    return admin;
  }

  return { url, port, database, env: serverEnv, logFile, graphql, must, register, login, apiToken, createAdmin, stop };
}
