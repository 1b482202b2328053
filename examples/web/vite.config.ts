import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The app talks to /graphql on its own origin, so Agora's HttpOnly cookies (host-only, Path=/)
// are first-party; the dev server and `vite preview` forward /graphql and the /graphql/ws WebSocket
// to the Agora server at AGORA_URL.
const target = process.env.AGORA_URL ?? 'http://127.0.0.1:8080';
const proxy = { '/graphql': { target, ws: true } };

export default defineConfig({
  plugins: [react()],
  // Any path without a file of its own gets index.html, in `vite` and `vite preview` alike: the
  // routes mailed links open (/verify-email, /reset-password) are the app's.
  appType: 'spa',
  server: { proxy },
  preview: { proxy },
  build: { sourcemap: true },
});
