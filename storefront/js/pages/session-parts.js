// Pieces of a payment session shared by the confirmation and failure pages.

import { currentUser } from '../auth.js';
import { shopUrl } from '../config.js';
import { dl, h } from '../dom.js';
import { formatDate, formatTime } from '../messages.js';

/** The session id from ?payment_session_id=… (what the callback's redirect carries). */
export function sessionIdFromUrl() {
  return new URLSearchParams(window.location.search).get('payment_session_id');
}

/** A "sign in to see this" block that comes back to this very page. */
export function signInPrompt(what) {
  const here = window.location.href.slice(shopUrl().length);
  return [
    h('p', {}, `Sign in to see ${what}.`),
    h('p', {}, h('a', { class: 'button', href: shopUrl(`#/signin?next=${encodeURIComponent(here)}`) }, 'Sign in')),
  ];
}

export function isSignedIn() {
  return currentUser() !== null;
}

export function facts(session) {
  return dl('facts', [
    ['Status', h('code', { class: 'status-code' }, session.status)],
    ['Amount', h('strong', { class: 'session-amount' }, session.amount.formatted)],
    ['Placed', formatDate(session.createdAt)],
    session.paidAt && ['Paid', formatDate(session.paidAt)],
    session.couponCode && ['Coupon', h('span', { class: 'coupon-code' }, session.couponCode)],
    session.razorpayPaymentId && ['Razorpay payment', h('code', {}, session.razorpayPaymentId)],
    session.refundedAmount.amount > 0 && ['Refunded', session.refundedAmount.formatted],
  ]);
}

export function linesTable(session) {
  return h('table', { class: 'session-lines' },
    h('caption', {}, 'Items'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Item'), h('th', { scope: 'col', class: 'num' }, 'Qty'), h('th', { scope: 'col', class: 'num' }, 'Amount'))),
    h('tbody', {}, session.lines.map((line) => h('tr', {},
      h('th', { scope: 'row' }, line.title,
        h('span', { class: 'line-detail' },
          `${line.unitPrice.formatted} each`,
          line.discount.amount > 0 ? ` · discount −\u00a0${line.discount.formatted}` : '',
          ` · GST ${line.tax.formatted}`)),
      h('td', { class: 'num' }, String(line.quantity)),
      h('td', { class: 'num' }, line.total.formatted)))));
}

export function timeline(session) {
  return h('ol', { class: 'timeline' }, session.timeline.map((event) => h('li', {},
    h('time', { datetime: event.at }, formatTime(event.at)),
    h('code', { class: 'event-type' }, event.type),
    h('span', { class: 'event-source' }, event.source),
    event.detail && h('span', { class: 'event-detail' }, event.detail))));
}
