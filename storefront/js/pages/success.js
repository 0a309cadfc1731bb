// checkout/success.html?payment_session_id=…&status=… : where Razorpay's callback lands after
// a payment. It follows the session (paymentSession(id) about every second) until it settles:
// the callback has verified the signature, and the capture and webhooks finish the job.

import { shopUrl } from '../config.js';
import { h, replace } from '../dom.js';
import { execute } from '../graphql.js';
import { SETTLED, orderRef, statusText } from '../messages.js';
import { PaymentSession } from '../operations.js';
import { initShell, refreshCartCount } from '../shell.js';
import { asErrors, costBreakdown, heading, loading, showErrors, statusBadge } from '../ui.js';
import { facts, isSignedIn, linesTable, sessionIdFromUrl, signInPrompt, timeline } from './session-parts.js';

const POLL_MS = 1000;
const GIVE_UP_MS = 3 * 60 * 1000;

const main = document.getElementById('main');
await initShell({ active: 'orders' });
const id = sessionIdFromUrl();

if (!id) {
  replace(main, await heading('Order confirmation'), h('p', {}, 'No order was given.'), backLinks());
} else if (!isSignedIn()) {
  replace(main, await heading('Order confirmation'), ...signInPrompt('this order'));
} else {
  await follow(id);
}

async function follow(sessionId) {
  const started = Date.now();
  const status = h('div', { class: 'status-block', role: 'status', 'aria-live': 'polite' });
  const body = h('div', { class: 'session-body' }, loading('Loading your order…'));
  const errors = h('div', { class: 'error-slot' });
  replace(main, await heading(`Order ${orderRef(sessionId)}`), status, errors, body);
  let shown = null;
  const tick = async () => {
    let session;
    try {
      ({ paymentSession: session } = await execute(PaymentSession, { id: sessionId }));
      replace(errors);
    } catch (error) {
      showErrors(errors, asErrors(error));
      if (error.code !== 'UNAUTHENTICATED') setTimeout(tick, POLL_MS * 3);
      return;
    }
    if (!session) {
      replace(main, await heading('Order not found'),
        h('p', { class: 'not-found' }, 'We could not find this order. It may belong to another account.'), backLinks());
      return;
    }
    const settled = SETTLED.has(session.status);
    if (session.status !== shown) {
      // only a change of status is announced, not every poll
      shown = session.status;
      replace(status,
        statusBadge(session.status),
        h('p', { class: 'status-text' }, statusText(session.status)),
        !settled && h('p', { class: 'waiting' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Waiting for the payment to be confirmed…'));
      if (session.status === 'PAID') refreshCartCount(); // the paid lines left the cart
    }
    replace(body,
      h('div', { class: 'session-summary' }, facts(session), costBreakdown(session.cost)),
      linesTable(session),
      h('section', { class: 'timeline-section', 'aria-labelledby': 'timeline-heading' },
        h('h2', { id: 'timeline-heading' }, 'Timeline'), timeline(session)),
      backLinks());
    if (settled) return;
    if (Date.now() - started < GIVE_UP_MS) {
      setTimeout(tick, POLL_MS);
    } else {
      const again = h('button', { type: 'button', class: 'button secondary' }, 'Check again');
      again.addEventListener('click', () => follow(sessionId));
      status.append(h('p', {}, 'This is taking longer than usual. You can leave this page: the order shows under Your orders once it is confirmed. '), again);
    }
  };
  await tick();
}

function backLinks() {
  return h('p', { class: 'back-links' },
    h('a', { href: shopUrl('#/orders') }, 'Your orders'), ' · ', h('a', { href: shopUrl('#/') }, 'Continue shopping'));
}
