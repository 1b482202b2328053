// Types and typed documents for every operation in src/, from the server's exported SDL.
// `npm run codegen` writes src/gql/ (not committed); an operation that no longer fits
// ../../schema.graphql fails here, and a changed type fails `tsc --noEmit`.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  // AGORA_SCHEMA: check the app against another SDL, e.g. a proposed change.
  schema: process.env.AGORA_SCHEMA ?? '../../schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  errorsOnly: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: { Date: 'string', DateTime: 'string', JSON: 'unknown' },
      },
    },
  },
};

export default config;
