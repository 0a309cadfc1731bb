// #/orders : the customer's payment sessions, newest first, each opening its confirmation.

import { currentUser } from '../auth.js';
import { confirmationUrl } from '../checkout.js';
import { h, replace } from '../dom.js';
import { execute } from '../graphql.js';
import { formatDate, orderRef } from '../messages.js';
import { PaymentSessions } from '../operations.js';
import { announce } from '../shell.js';
import { asErrors, heading, loading, showErrors, statusBadge } from '../ui.js';

const PAGE_SIZE = 10;

export async function render(container) {
  if (!currentUser()) {
    replace(container, await heading('Your orders'),
      h('p', {}, 'Sign in to see your orders.'),
      h('p', {}, h('a', { class: 'button', href: `#/signin?next=${encodeURIComponent('#/orders')}` }, 'Sign in')));
    return;
  }
  const list = h('ol', { class: 'orders', 'aria-label': 'Orders, newest first' });
  const more = h('button', { type: 'button', class: 'button secondary', hidden: true }, 'Load more');
  const errors = h('div', { class: 'error-slot' });
  const status = h('div', {}, loading('Loading your orders…'));
  replace(container, await heading('Your orders'), status, list, errors, h('div', { class: 'more' }, more));
  let cursor = null;
  const load = async () => {
    const { paymentSessions } = await execute(PaymentSessions, { first: PAGE_SIZE, after: cursor });
    for (const { node } of paymentSessions.edges) list.append(item(node));
    cursor = paymentSessions.pageInfo.endCursor;
    more.hidden = !paymentSessions.pageInfo.hasNextPage;
    replace(status, list.children.length === 0
      ? h('p', { class: 'empty' }, 'No orders yet. ', h('a', { href: '#/' }, 'Start shopping'))
      : null);
    return paymentSessions.edges.length;
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      announce(`${await load()} more orders loaded.`);
    } catch (error) {
      showErrors(errors, asErrors(error));
    } finally {
      more.disabled = false;
    }
  });
  try {
    await load();
  } catch (error) {
    replace(status);
    showErrors(errors, asErrors(error));
  }
}

function item(session) {
  const units = session.lines.reduce((sum, line) => sum + line.quantity, 0);
  const titles = session.lines.map((line) => line.title);
  const summary = titles.length > 2 ? `${titles.slice(0, 2).join(', ')} and ${titles.length - 2} more` : titles.join(', ');
  return h('li', { class: 'order', dataset: { sessionId: session.id } },
    h('div', { class: 'order-head' },
      h('a', { class: 'order-link', href: confirmationUrl(session.id) }, `Order ${orderRef(session.id)}`),
      statusBadge(session.status)),
    h('p', { class: 'order-meta' },
      h('time', { datetime: session.createdAt }, formatDate(session.createdAt)),
      ` · ${units} item${units === 1 ? '' : 's'} · `,
      h('strong', {}, session.amount.formatted)),
    h('p', { class: 'order-items' }, summary));
}
