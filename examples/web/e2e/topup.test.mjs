// The top-up screen in Chromium: buying market budget with money, against a real Agora whose
// Stripe is localstripe (e2e/localstripe.mjs), with Agora's webhook registered there. The server
// has no publishable key, so the page shows no card form (Stripe.js comes from js.stripe.com,
// which this machine cannot reach) and a top-up waits for its PaymentIntent to be paid; the test
// pays it through localstripe's API. The budget grows only when localstripe's webhook tells
// Agora the payment succeeded (about a second later), and the page finds out by polling. A
// purchase whose answer is lost, or that Stripe was down for, is sent again with the same
// idempotency key, and makes one top-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startAgora } from './server.mjs';
import { startWeb } from './web.mjs';
import { launchChromium, watch } from './browser.mjs';
import { CARDS, SECRET_KEY, startLocalStripe } from './localstripe.mjs';

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));
const PASSWORD = 'correct horse battery staple';
const WEBHOOK_SECRET = 'whsec_x';
const MAX_UNITS = 50;
const DAILY_UNITS = 60;

async function signIn(page) {
  await page.getByTestId('login-name').fill('ada');
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('whoami').waitFor();
}

test('the top-up screen in Chromium: buy budget, paid or declined through localstripe', async (t) => {
  const stripe = await startLocalStripe({ name: 'topup' });
  t.after(() => stripe.stop());
  const agora = await startAgora({
    name: 'topup',
    env: {
      AGORA_STRIPE_SECRET_KEY: SECRET_KEY,
      AGORA_STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      AGORA_STRIPE_API_BASE: stripe.url,
      AGORA_TOP_UP_MAX_UNITS: String(MAX_UNITS),
      AGORA_TOP_UP_DAILY_UNITS: String(DAILY_UNITS),
    },
  });
  t.after(() => agora.stop());
  await stripe.registerWebhook(`${agora.url}/webhooks/stripe`, WEBHOOK_SECRET);
  const web = await startWeb(agora.url);
  t.after(() => web.close());

  await agora.register({ username: 'ada', password: PASSWORD });
  const { accessToken } = await agora.login('ada', PASSWORD);
  const ada = (query) => agora.must(query, {}, accessToken);
  const topUpsOfAda = async () =>
    (await ada('{ myTopUps { id units amount state paymentIntentId } }')).myTopUps;

  const browser = await launchChromium();
  t.after(() => browser.close());
  // The prices on the page are written in the browser's locale.
  const context = await browser.newContext({ locale: 'en-US' });
  const problems = [];
  const page = watch(await context.newPage(), problems);

  const shot = (name) => page.screenshot({ path: `${artifacts}topup-${name}.png`, fullPage: true });
  const testId = (id) => page.getByTestId(id);
  const budget = async () => Number(await testId('budget').innerText());
  const remaining = async () => Number(await testId('topup-remaining').innerText());
  const remainingBecomes = (units) =>
    page.waitForFunction((text) => document.querySelector('[data-testid="topup-remaining"]')?.textContent === text, String(units));
  const row = (id) => page.locator(`[data-testid="topup"][data-topup-id="${id}"]`);
  // Newest first, as Agora lists them.
  const newestId = () => testId('topup').first().getAttribute('data-topup-id');

  const createAnswered = () =>
    page.waitForResponse((response) => response.request().postDataJSON()?.operationName === 'CreateTopUp');

  /** Buys `units` in the form; resolves once Agora has answered. */
  async function buy(units) {
    await testId('topup-units').fill(String(units));
    const answered = createAnswered();
    await testId('topup-buy').click();
    await answered;
  }

  await t.test('ada opens the top-up screen: the price of a unit and what she can still buy today', async () => {
    await page.goto(`${web.url}/#/topup`);
    await signIn(page);
    await testId('topup-form').waitFor();
    assert.equal(await budget(), 1000);
    assert.equal(await testId('topup-unit-price').innerText(), '$1.00');
    assert.equal(await remaining(), DAILY_UNITS);
    await testId('topup-no-card').waitFor();
    assert.equal(await testId('card-element').count(), 0, 'no card form without a publishable key');
    await page.getByText('None yet.').waitFor();
  });

  await t.test('a purchase whose answer is lost is sent again with the same key: one pending top-up', async () => {
    // The first CreateTopUp reaches Agora, but its answer never reaches the page.
    const keys = [];
    await page.route('**/graphql', async (route) => {
      const body = route.request().postDataJSON();
      if (body?.operationName !== 'CreateTopUp') return route.continue();
      keys.push(body.variables.input.idempotencyKey);
      if (keys.length > 1) return route.continue();
      await route.fetch();
      return route.abort('connectionreset');
    });
    await testId('topup-units').fill('25');
    assert.equal(await testId('topup-buy').innerText(), 'Buy for $25.00');
    await testId('topup-buy').click();
    await testId('topup-error').getByText('Failed to fetch').waitFor();
    await testId('topup-retry').click();
    await testId('topup').getByText('Waiting for payment').waitFor();
    await page.unroute('**/graphql');
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], 'the retry sent the same idempotency key');

    const [topUp, ...others] = await topUpsOfAda();
    assert.equal(others.length, 0, 'one top-up for the two requests');
    assert.deepEqual({ units: topUp.units, amount: topUp.amount, state: topUp.state }, { units: 25, amount: 2500, state: 'PENDING' });
    assert.equal(await newestId(), topUp.id);
    assert.equal(await row(topUp.id).getByTestId('topup-payment-intent').innerText(), topUp.paymentIntentId);
    // A pending top-up counts against the day's limit.
    await remainingBecomes(DAILY_UNITS - 25);
    assert.equal(await budget(), 1000, 'nothing credited before the payment');
    await shot('pending');
  });

  await t.test('paid with a Visa card: the top-up succeeds and the budget grows by 25', async () => {
    const id = await newestId();
    const paymentIntent = await row(id).getByTestId('topup-payment-intent').innerText();
    // Stands in for the card form: what Stripe.js does on Stripe's side with the card typed
    // into it (Stripe.js comes from js.stripe.com, out of reach here).
    const paid = await stripe.pay(paymentIntent, CARDS.visa);
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    assert.equal(paid.body.status, 'succeeded');

    await row(id).and(page.locator('[data-state="SUCCEEDED"]')).waitFor();
    await testId('budget').getByText('1025', { exact: true }).waitFor();
    assert.equal(await budget(), 1025);
    const { me, myTransactions } = await ada('{ me { budget } myTransactions(first: 1) { nodes { kind amount balanceAfter } } }');
    assert.equal(me.budget, 1025);
    assert.deepEqual(myTransactions.nodes, [{ kind: 'TOP_UP', amount: 25, balanceAfter: 1025 }]);
    assert.equal(await remaining(), DAILY_UNITS - 25);
    await shot('succeeded');
  });

  await t.test('paid with a declined card: the top-up fails and the budget stays', async () => {
    const paidId = await newestId();
    await buy(10);
    await testId('topup').nth(1).waitFor();
    const id = await newestId();
    assert.notEqual(id, paidId);
    await remainingBecomes(DAILY_UNITS - 35);
    const paymentIntent = await row(id).getByTestId('topup-payment-intent').innerText();
    const declined = await stripe.pay(paymentIntent, CARDS.declined);
    assert.equal(declined.status, 402, JSON.stringify(declined.body));
    assert.equal(declined.body.error.code, 'card_declined');

    await row(id).and(page.locator('[data-state="FAILED"]')).getByText('Payment failed').waitFor();
    // A failed top-up no longer counts against the day's limit.
    await remainingBecomes(DAILY_UNITS - 25);
    assert.equal(await budget(), 1025);
    assert.equal((await ada('{ me { budget } }')).me.budget, 1025);
    assert.deepEqual((await topUpsOfAda()).map((topUp) => topUp.state), ['FAILED', 'SUCCEEDED']);
    await shot('failed');
  });

  await t.test('units Agora refuses: its message next to the units field, and no top-up', async () => {
    const unitsError = testId('topup-units-error');
    await buy(0);
    await unitsError.getByText(`Buy between 1 and ${MAX_UNITS} units at a time`).waitFor();
    await buy(MAX_UNITS + 1);
    await unitsError.getByText(`Buy between 1 and ${MAX_UNITS} units at a time`).waitFor();
    assert.equal(await testId('topup-units').getAttribute('aria-invalid'), 'true');
    // Within one top-up's maximum, over what is left today.
    await buy(DAILY_UNITS - 25 + 1);
    await unitsError.getByText(`At most ${DAILY_UNITS} units may be bought in 24 hours`).waitFor();
    await shot('refused');
    await buy(5);
    await unitsError.waitFor({ state: 'detached' });
    await testId('topup').nth(2).waitFor();
    await row(await newestId()).getByText('Waiting for payment').waitFor();
    assert.deepEqual((await topUpsOfAda()).map((topUp) => topUp.units), [5, 10, 25], 'only the last one was made');
  });

  await t.test('Stripe down: Agora says so, and "Try again" sends the same purchase once it is back', async () => {
    const keys = [];
    const sent = (request) => {
      const body = request.method() === 'POST' ? request.postDataJSON() : null;
      if (body?.operationName === 'CreateTopUp') keys.push(body.variables.input.idempotencyKey);
    };
    page.on('request', sent);
    const before = await testId('topup').count();
    await stripe.down();
    await buy(20);
    await testId('topup-error').getByText('SERVICE_UNAVAILABLE').waitFor();
    await shot('stripe-down');
    await stripe.up();
    const answered = createAnswered();
    await testId('topup-retry').click();
    await answered;
    page.off('request', sent);
    await testId('topup').nth(before).waitFor();
    await testId('topup-error').waitFor({ state: 'detached' });
    assert.equal(await testId('topup-retry').count(), 0);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], 'the retry sent the same idempotency key');
    const [topUp, ...older] = await topUpsOfAda();
    assert.deepEqual([topUp.units, topUp.state, older.length], [20, 'PENDING', before]);
    assert.match(topUp.paymentIntentId, /^pi_/, 'the retry got the PaymentIntent the first request could not');
    assert.equal(await row(topUp.id).getByTestId('topup-payment-intent').innerText(), topUp.paymentIntentId);
  });

  await t.test('a server without Stripe keys: "Payments are not configured", and no form', async () => {
    const plain = await startAgora({ name: 'topup-off' });
    t.after(() => plain.stop());
    const plainWeb = await startWeb(plain.url);
    t.after(() => plainWeb.close());
    await plain.register({ username: 'ada', password: PASSWORD });
    // A context of its own: cookies ignore ports, and this is another server on the same host.
    const otherContext = await browser.newContext({ locale: 'en-US' });
    const other = watch(await otherContext.newPage(), problems);
    await other.goto(`${plainWeb.url}/#/topup`);
    await signIn(other);
    await other.getByTestId('payments-off').getByText('Payments are not configured on this server').waitFor();
    assert.equal(await other.getByTestId('topup-form').count(), 0);
    assert.equal(await other.getByTestId('topup-offer-error').count(), 0, 'not shown as a generic error');
    await other.screenshot({ path: `${artifacts}topup-payments-off.png`, fullPage: true });
    await otherContext.close();
  });

  // Its polling ends before the servers stop.
  await context.close();
  // The lost answer is Chromium's to report; nothing else went wrong.
  assert.deepEqual(
    problems.filter((problem) => !problem.includes('net::ERR_CONNECTION_RESET')),
    [],
    'the page ran without errors',
  );
});
