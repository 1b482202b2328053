// Debian's Chromium, driven by playwright-core: Playwright's own browser downloads are not
// reachable here, and the system package is what CI installs.
import { chromium } from 'playwright-core';

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    // This machine's network is closed: Chromium's background connections would only be refused.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Collects the page's uncaught errors and console errors into `problems`, which a test asserts
 * empty at its end: a screen that works while it logs errors is not working.
 */
export function watch(page, problems, { timeout = 15_000 } = {}) {
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  return page;
}

/** A watched page of its own Chromium, closed when the test `t` ends. */
export async function openPage(t, options) {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const problems = [];
  const page = watch(await browser.newPage(), problems, options);
  return { page, problems };
}

/** The habits page's cards of a habit, by the list it is in. */
export function habitCards(page) {
  const testId = (id) => page.getByTestId(id);
  return {
    testId,
    due: (name) => testId('habit-due').filter({ hasText: name }),
    skipped: (name) => testId('habit-skipped').filter({ hasText: name }),
    done: (name) => testId('habit-done').filter({ hasText: name }),
  };
}

/** Opens the app's habits page at `webUrl` and signs `user` in there. */
export async function signInToHabits(page, webUrl, user) {
  await page.goto(`${webUrl}/#/habits`);
  await page.getByTestId('login-name').fill(user.username);
  await page.getByTestId('login-password').fill(user.password);
  await page.getByTestId('login-submit').click();
}
