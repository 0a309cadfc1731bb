// checkout/failure.html?payment_session_id=…&reason=… : the callback's answer when a payment
// failed (reason=payment_failed), could not be matched (unknown_order) or not verified
// (error, or an ErrorCode). "Try again" pays the same cart with the same idempotency key: the
// same, still payable session, and Checkout opens again for its Razorpay order.

import { payForCart } from '../checkout.js';
import { shopUrl } from '../config.js';
import { h, replace } from '../dom.js';
import { execute } from '../graphql.js';
import { PAYABLE, orderRef } from '../messages.js';
import { Cart, PaymentSession } from '../operations.js';
import { initShell } from '../shell.js';
import { asErrors, busy, heading, showErrors, statusBadge } from '../ui.js';
import { facts, isSignedIn, sessionIdFromUrl, signInPrompt } from './session-parts.js';

const REASONS = {
  payment_failed:
    'The payment did not go through. If money left your account, your bank returns it automatically. Your cart is kept, so you can try again.',
  unknown_order:
    'We could not match this payment to an order. If you were charged, contact us with the Razorpay payment reference; nothing is lost.',
};
const UNSURE =
  'Something went wrong while confirming your payment. Check Your orders before paying again: the payment may still be confirmed.';

const main = document.getElementById('main');
await initShell({ active: 'cart' });
const params = new URLSearchParams(window.location.search);
const id = sessionIdFromUrl();
const reason = params.get('reason') ?? 'error';

const slot = h('div', { class: 'error-slot' });
const session = h('div', { class: 'session-body' });
const actions = h('div', { class: 'actions' });
replace(main,
  await heading('Payment not completed'),
  h('p', { class: 'reason', dataset: { reason } }, REASONS[reason] ?? UNSURE),
  session,
  actions,
  slot,
  h('p', { class: 'back-links' }, h('a', { href: shopUrl('#/cart') }, 'Back to your cart'), ' · ', h('a', { href: shopUrl('#/orders') }, 'Your orders')));

if (!isSignedIn()) {
  replace(actions, ...signInPrompt('your order and try again'));
} else {
  await showSession();
}

async function showSession() {
  let current = null;
  if (id) {
    try {
      ({ paymentSession: current } = await execute(PaymentSession, { id }));
    } catch (error) {
      showErrors(slot, asErrors(error));
    }
  }
  if (current) {
    replace(session, h('section', { class: 'panel failed-order', 'aria-labelledby': 'order-heading' },
      h('h2', { id: 'order-heading' }, `Order ${orderRef(current.id)} `, statusBadge(current.status)),
      facts(current)));
    if (!PAYABLE.has(current.status) && ['AUTHORIZED', 'PAID'].includes(current.status)) {
      replace(actions, h('a', { class: 'button primary', href: shopUrl(`checkout/success.html?payment_session_id=${encodeURIComponent(current.id)}`) }, 'See your order'));
      return;
    }
  }
  const again = h('button', { type: 'button', class: 'button primary' }, 'Try again');
  again.addEventListener('click', () => tryAgain(again));
  replace(actions, again);
  if (current) again.setAttribute('aria-describedby', 'try-again-hint');
  if (current) actions.append(h('p', { id: 'try-again-hint', class: 'hint' }, `Pays order ${orderRef(current.id)} for ${current.amount.formatted} on Razorpay.`));
}

async function tryAgain(button) {
  replace(slot);
  await busy(button, 'Opening Razorpay Checkout…', async () => {
    try {
      const { cart } = await execute(Cart);
      const { errors } = await payForCart(cart);
      if (errors) showErrors(slot, errors);
    } catch (error) {
      showErrors(slot, asErrors(error));
    }
  });
}
