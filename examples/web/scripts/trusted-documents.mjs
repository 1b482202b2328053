// Writes ../trusted-documents.json, the manifest a server started with AGORA_TRUSTED_DOCUMENTS
// runs exclusively: SHA-256 (hex) of each document → its text. It holds every document this app
// sends, exactly as it sends it, and the admin scripts' documents (../scripts/operations.graphql).
//
// What the app sends is not the text in its sources: Apollo Client adds `__typename` to every
// selection and prints the result. So each operation codegen found (src/gql, `npm run codegen`)
// goes through a real ApolloClient configured as src/apollo.ts's, and the text its link is
// handed is what is listed; `print` of the untouched document too, for the requests src/session.ts
// sends with fetch.
//
// `--check` writes nothing and fails when the file is not what it would write: `npm test` runs
// it, so the app's operations cannot change without the manifest.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import apollo from '@apollo/client/core/core.cjs';
import { print } from 'graphql';

const { ApolloClient, ApolloLink, InMemoryCache, Observable, setLogVerbosity } = apollo;
// The capturing link answers nothing useful; Apollo's complaints about that are not news.
setLogVerbosity('silent');
const here = dirname(fileURLToPath(import.meta.url));
const manifestPath = join(here, '../../trusted-documents.json');
const scriptsDocument = join(here, '../../scripts/operations.graphql');

/** The typed documents codegen wrote, as JavaScript values. */
async function generatedDocuments() {
  const source = readFileSync(join(here, '../src/gql/graphql.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const folder = mkdtempSync(join(tmpdir(), 'agora-documents-'));
  try {
    const file = join(folder, 'graphql.mjs');
    writeFileSync(file, outputText);
    const module = await import(pathToFileURL(file).href);
    return Object.values(module).filter(
      (value) => value?.kind === 'Document' && value.definitions.some((d) => d.kind === 'OperationDefinition'),
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The text Apollo Client's link chain is given for `document`. */
async function sentByApollo(document) {
  let sent;
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: new ApolloLink((operation) => {
      sent = print(operation.query);
      return Observable.of({ data: null });
    }),
  });
  const { operation } = document.definitions.find((d) => d.kind === 'OperationDefinition');
  const ignore = () => {};
  if (operation === 'query') await client.query({ query: document, fetchPolicy: 'network-only' }).catch(ignore);
  else if (operation === 'mutation') await client.mutate({ mutation: document }).catch(ignore);
  else {
    await new Promise((done) => {
      client.subscribe({ query: document }).subscribe({ next: done, error: done, complete: done });
    });
  }
  if (!sent) throw new Error(`Apollo sent nothing for ${print(document).slice(0, 80)}`);
  return sent;
}

const texts = new Set([readFileSync(scriptsDocument, 'utf8').replace(/\n+$/, '')]);
for (const document of await generatedDocuments()) {
  texts.add(await sentByApollo(document));
  texts.add(print(document));
}
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const manifest = Object.fromEntries([...texts].map((text) => [sha256(text), text]).sort(([a], [b]) => a.localeCompare(b)));
const written = `${JSON.stringify(manifest, null, 2)}\n`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(manifestPath, 'utf8');
  } catch {}
  if (current !== written) {
    console.error(
      'examples/trusted-documents.json does not list what the app and the admin scripts send: ' +
        'run `npm run trusted-documents` in examples/web and commit the result',
    );
    process.exit(1);
  }
  console.log(`trusted-documents.json is current (${texts.size} documents)`);
} else {
  writeFileSync(manifestPath, written);
  console.log(`wrote trusted-documents.json (${texts.size} documents)`);
}
