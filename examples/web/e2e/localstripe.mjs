// localstripe (PyPI, pinned in tests/stripe/requirements.txt) for browser tests of payments: the
// same server the Rust tests use (tests/api/common/stripe.rs documents how it differs from
// Stripe), run by tests/stripe/serve.py on a free loopback port. It keeps its objects in memory
// and POSTs signed events to the webhook endpoints registered with it, about a second after the
// request that made them. stop() closes its stdin, which ends it.
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './server.mjs';

const run = promisify(execFile);
const stripeDir = fileURLToPath(new URL('../../../tests/stripe/', import.meta.url));
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** localstripe takes any key that starts with `sk_`; Agora is given the same one. */
export const SECRET_KEY = 'sk_test_x';

/** Stripe's test cards, as localstripe knows them. */
export const CARDS = {
  visa: '4242424242424242',
  // Declined when charged (402 card_declined). 4000000000000002 is declined by localstripe only
  // when attached to a customer, so it would be paid here.
  declined: '4000000000000341',
};

const HINT = 'localstripe runs on Python: install Python 3 with venv and pip (Debian: apt-get install python3 python3-venv)';

// Runs with the machine's python3 under fcntl.flock, so test processes starting together install
// once (the others wait), and an install that died leaves no stale lock: the kernel lets go of it.
// `done` is written only after pip succeeded, so an interrupted install runs again.
const INSTALL = `
import fcntl, os, shutil, subprocess, sys
root, requirements = sys.argv[1], sys.argv[2]
os.makedirs(root, exist_ok=True)
with open(os.path.join(root, 'lock'), 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not os.path.exists(os.path.join(root, 'done')):
        venv = os.path.join(root, 'venv')
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
        subprocess.run([os.path.join(venv, 'bin', 'python'), '-m', 'pip', 'install', '--quiet', '--no-input',
                        '--disable-pip-version-check', '-r', requirements], check=True)
        open(os.path.join(root, 'done'), 'w').close()
`;

let installed;
/**
 * The venv's python, with the requirements installed: under os.tmpdir(), in a folder named by a
 * hash of the requirements and the interpreter, so either changing gives a fresh venv.
 */
function installedPython() {
  installed ??= (async () => {
    const requirements = join(stripeDir, 'requirements.txt');
    const python = await run('python3', ['-c', 'import sys; print(sys.executable, sys.version)']).catch((error) => {
      throw new Error(`${HINT}: ${error.message}`);
    });
    const hash = createHash('sha256')
      .update(await readFile(requirements))
      .update(python.stdout)
      .digest('hex')
      .slice(0, 16);
    const root = join(tmpdir(), `agora-e2e-localstripe-${hash}`);
    await run('python3', ['-c', INSTALL, root, requirements], { timeout: 10 * 60_000 }).catch((error) => {
      throw new Error(`installing localstripe into ${root} failed (${HINT}):\n${error.stderr || error.message}`);
    });
    return join(root, 'venv/bin/python');
  })();
  return installed;
}

/**
 * Starts localstripe; resolves once it answers. `name` names its log in e2e/artifacts/.
 * Returns { url, post, get, registerWebhook, pay, down, up, stop }.
 */
export async function startLocalStripe({ name }) {
  const python = await installedPython();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await mkdir(artifacts, { recursive: true });
  const logFile = join(artifacts, `localstripe-${name}.log`);
  const log = createWriteStream(logFile);
  // Its objects, kept across down() and up().
  const stateFile = join(tmpdir(), `agora-e2e-localstripe-${process.pid}-${port}.pickle`);
  // localstripe keeps endpoints in memory only: registered again by up().
  const endpoints = [];
  let child = null;

  /** A request to its API with Stripe's form encoding; resolves to { status, body }. */
  async function send(method, path, form) {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${SECRET_KEY}` },
      body: form ? new URLSearchParams(form) : undefined,
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  }
  const post = (path, form = {}) => send('POST', path, form);
  const get = (path) => send('GET', path);

  async function must(answer, what) {
    const { status, body } = await answer;
    if (status !== 200) throw new Error(`localstripe, ${what}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  const configure = (index) =>
    must(post(`/_config/webhooks/endpoint${index + 1}`, endpoints[index]), 'registering a webhook');

  /** Sends every event to `webhookUrl`, signed with `secret` (`Stripe-Signature: t=…,v1=…`). */
  async function registerWebhook(webhookUrl, secret) {
    endpoints.push({ url: webhookUrl, secret });
    await configure(endpoints.length - 1);
  }

  /**
   * What Stripe.js does with the card a customer typed: a card payment method, then the
   * confirmation. localstripe takes no `payment_method` at confirmation ("Not implemented", a
   * 500), so the PaymentIntent is updated with it first. Resolves to the confirmation's answer:
   * { status: 200, body: the PaymentIntent }, or 402 and the decline.
   */
  async function pay(paymentIntent, card) {
    const method = await must(
      post('/v1/payment_methods', {
        type: 'card',
        'card[number]': card,
        'card[exp_month]': '12',
        'card[exp_year]': '2030',
        'card[cvc]': '123',
      }),
      'creating a payment method',
    );
    await must(post(`/v1/payment_intents/${paymentIntent}`, { payment_method: method.id }), `attaching ${method.id}`);
    return post(`/v1/payment_intents/${paymentIntent}/confirm`);
  }

  /** Stripe down: ends the process, and its port refuses connections until up(). */
  async function down() {
    if (!child) return;
    const ending = child;
    child = null;
    if (ending.exitCode === null && ending.signalCode === null) {
      const exited = new Promise((resolve) => ending.once('exit', resolve));
      ending.stdin.end();
      const timer = setTimeout(() => ending.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  }

  /** localstripe (again) on its port, with the objects it had and the webhooks registered. */
  async function up() {
    const started = spawn(python, ['-u', join(stripeDir, 'serve.py'), String(port), stateFile], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child = started;
    started.stdout.pipe(log, { end: false });
    started.stderr.pipe(log, { end: false });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) throw new Error(`localstripe exited; see ${logFile}`);
      if (Date.now() > deadline) throw new Error(`localstripe did not answer on port ${port} within 30 s; see ${logFile}`);
      const answer = await get('/v1/events?limit=1').catch(() => null);
      if (answer?.status === 200) break;
      await sleep(100);
    }
    for (const index of endpoints.keys()) await configure(index);
  }

  async function stop() {
    await down();
    log.end();
    await rm(stateFile, { force: true });
  }

  try {
    await up();
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, post, get, registerWebhook, pay, down, up, stop };
}
