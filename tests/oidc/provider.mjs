// A real OpenID Provider for Agora's tests: panva's certified oidc-provider, configured from one
// JSON argument, plus a small control surface (/__test/*) that lets a test make the next token
// response carry an ID token no honest provider would send. Started and stopped by
// tests/api/common/oidc.rs; not for anything but tests (dev interactions accept any password).
//
//   node provider.mjs '{"port":4000,"keysFile":"/tmp/k.json","clients":[...],"accounts":[...]}'
//
// Config:
//   port        loopback port; the issuer is http://127.0.0.1:<port> (no path, so RPs can derive
//               the discovery URL the usual way)
//   keysFile    a private JWKS; read when it exists, else a fresh RS256 key is generated and
//               written there. A restart with the file kept keeps the keys; deleting it first
//               rotates them.
//   clients     [{client_id, client_secret, redirect_uris}]
//   accounts    [{sub, email, email_verified, name, preferred_username}]; a claim left out of
//               an account is left out of its ID token too
//   idTokenTtl  seconds (default 3600)
//   cacheSeconds  max-age of the discovery document and the key set (default 300)
//
// Once listening it prints one JSON line on stdout: {"issuer": ..., "kids": [...]}.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? process.env.OIDC_TEST_CONFIG ?? '{}');
const issuer = `http://127.0.0.1:${config.port}`;

async function signingKeys() {
  if (existsSync(config.keysFile)) {
    return JSON.parse(readFileSync(config.keysFile, 'utf8'));
  }
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  // A kid unique to this key, so "the kid changed" is how a test sees a rotation.
  const jwks = { keys: [{ ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }] };
  writeFileSync(config.keysFile, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

const jwks = await signingKeys();
const accounts = new Map((config.accounts ?? []).map((account) => [account.sub, account]));

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // openidconnect-rs's default; an RP that sends the secret otherwise is refused.
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks,
  // So an RP can read who signed in from the ID token alone, without calling userinfo.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  // Agora must send PKCE (S256) even as a confidential client: make forgetting it fail loudly.
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
  },
  cookies: { keys: ['agora test provider cookie key'] },
  ttl: { IdToken: config.idTokenTtl ?? 3600 },
  async findAccount(_ctx, sub) {
    const account = accounts.get(sub);
    // An unknown login name is a failed sign-in, as at a real provider.
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        const claims = {
          sub,
          email: account.email,
          email_verified: account.email_verified,
          name: account.name,
          preferred_username: account.preferred_username,
        };
        // A missing claim must be absent, not null: RPs tell the two apart.
        return Object.fromEntries(Object.entries(claims).filter(([, value]) => value != null));
      },
    };
  },
});

// What the next token response's ID token should look like instead; null when honest.
let tamper = null;

async function jsonBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

// The provider's own key re-signs a changed token, so only the change is wrong (a test of
// "aud is checked" must not pass because the signature is what failed).
async function resign(idToken, changes) {
  const { signWith, ...claims } = changes;
  const payload = { ...jose.decodeJwt(idToken) };
  for (const [name, value] of Object.entries(claims)) {
    if (value === null) delete payload[name];
    else payload[name] = value;
  }
  if (signWith === 'none') {
    const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${b64({ alg: 'none' })}.${b64(payload)}.`;
  }
  let key;
  let kid;
  if (signWith === 'rogue') {
    // A fresh key that never appears in the JWKS, under a kid that does not either.
    ({ privateKey: key } = await jose.generateKeyPair('RS256'));
    kid = `rogue-${randomBytes(4).toString('hex')}`;
  } else {
    const [jwk] = jwks.keys;
    key = await jose.importJWK(jwk, 'RS256');
    kid = jwk.kid;
  }
  return new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
}

const CACHED_PATHS = new Set(['/jwks', '/.well-known/openid-configuration']);

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/tamper' && ctx.method === 'POST') {
    tamper = await jsonBody(ctx.req);
    ctx.body = { tamper };
    return;
  }
  if (ctx.path === '/__test/reset' && ctx.method === 'POST') {
    tamper = null;
    ctx.body = { tamper };
    return;
  }
  await next();
  // Real providers let their metadata and keys be cached (Google: hours), which is what makes
  // a relying party's key rotation handling matter; oidc-provider itself sends no such header.
  if (ctx.method === 'GET' && ctx.status === 200 && CACHED_PATHS.has(ctx.path)) {
    ctx.set('cache-control', `public, max-age=${config.cacheSeconds ?? 300}`);
  }
  // The provider has built the token response as an object; koa serialises it after this.
  if (ctx.path === '/token' && tamper && ctx.status === 200 && ctx.body?.id_token) {
    const changes = tamper;
    tamper = null;
    ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token, changes) };
  }
});

// Dev interactions log a warning per start; the harness shows stderr only when something fails.
const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer, kids: jwks.keys.map((key) => key.kid) })}\n`);
});
server.on('error', (error) => {
  console.error(error);
  process.exit(1);
});

// The harness holds our stdin: when its process ends, however it ends, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
