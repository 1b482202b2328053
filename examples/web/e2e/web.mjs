// The built SPA (dist/, from `vite build`) served by `vite preview` on a free port, with
// /graphql and /graphql/ws forwarded to an Agora server: one origin, so its cookies are
// first-party.
import { fileURLToPath } from 'node:url';
import { access } from 'node:fs/promises';
import { preview } from 'vite';
import { freePort } from './server.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));

/** `port`: one chosen beforehand, for a server that must know the app's address when it starts. */
export async function startWeb(agoraUrl, { port } = {}) {
  await access(`${root}dist/index.html`).catch(() => {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  });
  port ??= await freePort();
  const server = await preview({
    root,
    configFile: `${root}vite.config.ts`,
    logLevel: 'warn',
    preview: {
      host: '127.0.0.1',
      port,
      strictPort: true,
      open: false,
      proxy: { '/graphql': { target: agoraUrl, ws: true } },
    },
  });
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}
