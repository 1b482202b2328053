// The GraphQL-over-HTTP conventions, checked by the audits the graphql-http project publishes
// for the specification, against a running server rather than by our own reading of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { startAgora } from './server.mjs';


test('GraphQL over HTTP: every MUST and SHOULD audit passes', async (t) => {
  const agora = await startAgora();
  t.after(() => agora.stop());
  const failures = [];
  let audited = 0;
  for (const audit of serverAudits({ url: `${agora.url}/graphql`, fetchFn: fetch })) {
    const result = await audit.fn();
    audited += 1;
    // A notice is a MAY the server chose not to do: with `Accept: application/json`, Agora
    // answers request errors with 200, as the specification recommends for that legacy type.
    if (result.status === 'ok' || result.status === 'notice') continue;
    const body = result.response ? await result.response.text().catch(() => '') : '';
    failures.push(`${result.status} ${audit.id} ${audit.name}: ${result.reason} ${body}`);
  }
  assert.ok(audited > 50, `the suite ran (${audited} audits)`);
  assert.deepEqual(failures, []);
});
