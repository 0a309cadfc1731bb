// Sign-in against Cognito's user pool API, straight from the browser (no Hosted UI):
// InitiateAuth with USER_PASSWORD_AUTH, then REFRESH_TOKEN_AUTH before the access token expires.
// Locally the endpoint is the AWS emulator (moto), in production cognito-idp.<region>.amazonaws.com.
//
// Tokens are kept in localStorage so a reload, a second tab and the round trip through
// Razorpay Checkout keep you signed in. The page's CSP allows scripts from the shop only.

import { loadConfig } from './config.js';

const STORAGE_KEY = 'storefront.auth';
const REFRESH_BEFORE_MS = 5 * 60 * 1000; // refresh 5 minutes before the access token expires
const MIN_DELAY_MS = 5 * 1000;

export class AuthError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

const listeners = new Set();
let session = read();
let refreshing = null;
let timer = null;

/** {username, email, phone, expiresAt} of the signed-in user, or null. */
export function currentUser() {
  if (!session) return null;
  const { username, email, phone, expiresAt } = session;
  return { username, email, phone, expiresAt };
}

/** Called with (user, reason) whenever someone signs in or out (reason: 'expired', ...). */
export function onAuthChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export async function signIn(username, password) {
  const { cognito } = await loadConfig();
  const answer = await cognitoCall('InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: cognito.clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  if (answer.ChallengeName) {
    throw new AuthError(
      answer.ChallengeName,
      `This account must complete the ${answer.ChallengeName} step first, which this demo does not support.`,
    );
  }
  save(tokensOf(answer.AuthenticationResult));
  notify(null);
  return currentUser();
}

/** Forget the tokens (reason 'expired' when the session could not be renewed). */
export function signOut(reason = null) {
  session = null;
  clearTimeout(timer);
  localStorage.removeItem(STORAGE_KEY);
  notify(reason);
}

/**
 * The token the API is sent (renewed first when it is about to expire), or null when signed
 * out: the ID token, not the access token. The API takes either; only the ID token carries the
 * customer's email and phone, which the API keeps (sealed) for Checkout's prefill and for the
 * customer's payment notifications.
 */
export async function bearerToken() {
  if (!session) return null;
  if (session.expiresAt - Date.now() < 60 * 1000) await refresh();
  return session?.idToken ?? null;
}

/**
 * REFRESH_TOKEN_AUTH: new access and ID tokens for the same refresh token. If Cognito refuses
 * (refresh token expired or revoked), sign out cleanly. One refresh at a time.
 */
export function refresh() {
  if (!session) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const { cognito } = await loadConfig();
      const answer = await cognitoCall('InitiateAuth', {
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        ClientId: cognito.clientId,
        AuthParameters: { REFRESH_TOKEN: session.refreshToken },
      });
      save(tokensOf(answer.AuthenticationResult, session.refreshToken));
      return true;
    } catch (error) {
      if (error instanceof AuthError && error.type !== 'NetworkError') {
        signOut('expired');
        return false;
      }
      // offline for a moment: keep the session, try again a little later
      schedule(30 * 1000);
      return session !== null && session.expiresAt > Date.now();
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function cognitoCall(operation, body) {
  const { cognito } = await loadConfig();
  let response;
  try {
    response = await fetch(cognito.endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AWSCognitoIdentityProviderService.${operation}`,
      },
      body: JSON.stringify(body),
    });
  } catch {
    throw new AuthError('NetworkError', 'The sign-in service could not be reached. Try again.');
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const type = String(answer.__type ?? 'Error').split('#').pop();
    throw new AuthError(type, messageOf(type, answer.message));
  }
  return answer;
}

function messageOf(type, message) {
  switch (type) {
    case 'NotAuthorizedException':
    case 'UserNotFoundException':
      return 'Incorrect username or password.';
    case 'UserNotConfirmedException':
      return 'This account is not confirmed yet.';
    case 'PasswordResetRequiredException':
      return 'This account needs a new password first.';
    case 'TooManyRequestsException':
    case 'LimitExceededException':
      return 'Too many attempts. Wait a moment and try again.';
    default:
      return message || 'Signing in failed. Try again.';
  }
}

/** The JWT's claims (no verification here: the API verifies every token it is sent). */
function claimsOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

function tokensOf(result, refreshToken = result.RefreshToken) {
  const id = claimsOf(result.IdToken);
  // by this machine's clock (ExpiresIn seconds from now), so a clock that is off does not
  // make us refresh too late or over and over
  const expiresAt = Date.now() + (result.ExpiresIn ?? 3600) * 1000;
  return {
    username: id['cognito:username'] ?? claimsOf(result.AccessToken).username ?? '',
    // only the ID token carries these; used to prefill Razorpay Checkout
    email: id.email ?? null,
    phone: id.phone_number ?? null,
    accessToken: result.AccessToken,
    idToken: result.IdToken,
    refreshToken,
    expiresAt,
  };
}

function save(next) {
  session = next;
  localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  schedule(next.expiresAt - Date.now() - REFRESH_BEFORE_MS);
}

function read() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    return saved?.accessToken && saved?.refreshToken ? saved : null;
  } catch {
    return null;
  }
}

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(refresh, Math.max(delay, MIN_DELAY_MS));
}

function notify(reason) {
  const user = currentUser();
  for (const listener of listeners) listener(user, reason);
}

if (session) schedule(session.expiresAt - Date.now() - REFRESH_BEFORE_MS);

// timers stall while a laptop sleeps: check again when the page is looked at
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && session) {
    if (session.expiresAt - Date.now() < REFRESH_BEFORE_MS) refresh();
  }
});

// signing in or out in another tab
window.addEventListener('storage', (event) => {
  if (event.key !== STORAGE_KEY) return;
  session = read();
  if (session) schedule(session.expiresAt - Date.now() - REFRESH_BEFORE_MS);
  else clearTimeout(timer);
  notify(null);
});
