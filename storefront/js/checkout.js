// Paying: create (or find again) the cart's payment session, then open Razorpay Checkout.
//
// The idempotency key is kept in localStorage for one cart id + cart version: pressing Pay
// twice, reloading, or coming back from a failed attempt ("Try again") sends the same key and
// gets the same, still payable, session (and the same Razorpay order) back. A cart that
// changed gets a new key, so a new session (which cancels the earlier open one).

import { currentUser } from './auth.js';
import { loadConfig, shopUrl } from './config.js';
import { h } from './dom.js';
import { execute } from './graphql.js';
import { PAYABLE } from './messages.js';
import { PaymentSessionCreate } from './operations.js';

const STORAGE_KEY = 'storefront.checkout';

function newKey() {
  const random = crypto.randomUUID?.() ?? [...crypto.getRandomValues(new Uint8Array(16))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  return `web-${random}`;
}

/** The key for this cart id + version (the same one until the cart changes). */
export function idempotencyKeyFor(cart) {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
    if (saved?.cartId === cart.id && saved?.cartVersion === cart.version) return saved.key;
  } catch {
    // unreadable: start over
  }
  return renewKey(cart);
}

/** A new key for this cart (its earlier session is closed and cannot be paid any more). */
export function renewKey(cart) {
  const key = newKey();
  localStorage.setItem(STORAGE_KEY, JSON.stringify({ cartId: cart.id, cartVersion: cart.version, key }));
  return key;
}

export function forgetCheckout() {
  localStorage.removeItem(STORAGE_KEY);
}

export function confirmationUrl(sessionId) {
  return shopUrl(`checkout/success.html?payment_session_id=${encodeURIComponent(sessionId)}`);
}

/**
 * Pay for `cart` (as the customer saw it: its version and total are sent along, and the
 * server refuses if either moved). Navigates away to Checkout on success; otherwise answers
 * {errors: [UserError]} for the caller to show next to the Pay button.
 */
export async function payForCart(cart) {
  let key = idempotencyKeyFor(cart);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const { paymentSessionCreate: payload } = await execute(PaymentSessionCreate, {
      input: {
        idempotencyKey: key,
        expectedCartVersion: cart.version,
        expectedAmount: cart.cost.total.amount,
      },
    });
    const [error] = payload.errors;
    const session = payload.paymentSession;
    if (error) {
      if (error.code !== 'IDEMPOTENCY_KEY_REUSED' || attempt > 0) return { errors: payload.errors };
    } else if (PAYABLE.has(session.status)) {
      await openCheckout(session);
      return { session };
    } else if (session.status !== 'EXPIRED' && session.status !== 'CANCELLED' && session.status !== 'FAILED') {
      // this key's session is already paid (or being confirmed): follow it
      window.location.assign(confirmationUrl(session.id));
      return { session };
    }
    key = renewKey(cart); // the key's session is closed: a new key makes a new session
  }
  return { errors: [{ code: 'PAYMENT_SESSION_CLOSED', message: 'Could not start a new payment.' }] };
}

/** Open Razorpay Checkout for a session, the way config.json says. */
export async function openCheckout(session) {
  const config = await loadConfig();
  const options = session.checkout;
  const user = currentUser();
  // the session's prefill is the contact the API keeps from the ID token; the signed-in user's
  // own claims stand in if a session has none (one made before the contact was kept)
  const prefill = {
    email: options.prefillEmail ?? user?.email ?? '',
    contact: options.prefillContact ?? user?.phone ?? '',
  };
  if (config.checkout.mode === 'hosted') {
    postToHostedCheckout(config.checkout.url, options, prefill);
  } else {
    await openCheckoutJs(config.checkout.script, options, prefill);
  }
}

/** Locally: the sandbox's hosted page, a form POST (as Razorpay's own hosted Checkout). */
function postToHostedCheckout(url, options, prefill) {
  const fields = {
    key_id: options.keyId,
    order_id: options.orderId,
    callback_url: options.callbackUrl,
    cancel_url: shopUrl('#/cart?checkout=cancelled'),
    name: options.name,
    description: options.description,
    'prefill[email]': prefill.email,
    'prefill[contact]': prefill.contact,
  };
  const form = h(
    'form',
    { method: 'post', action: url, hidden: true },
    Object.entries(fields)
      .filter(([, value]) => value)
      .map(([name, value]) => h('input', { type: 'hidden', name, value })),
  );
  document.body.append(form);
  form.submit();
}

let checkoutScript;

/** In production: Razorpay's checkout.js; `redirect: true` posts the result to callback_url. */
async function openCheckoutJs(src, options, prefill) {
  checkoutScript ??= new Promise((resolve, reject) => {
    const script = h('script', { src, async: true });
    script.addEventListener('load', resolve);
    script.addEventListener('error', () => {
      checkoutScript = null;
      reject(new Error('Razorpay Checkout could not be loaded.'));
    });
    document.head.append(script);
  });
  await checkoutScript;
  const razorpay = new window.Razorpay({
    key: options.keyId,
    order_id: options.orderId,
    amount: options.amount,
    currency: options.currency,
    name: options.name,
    description: options.description,
    callback_url: options.callbackUrl,
    redirect: true,
    prefill,
  });
  razorpay.open();
}
