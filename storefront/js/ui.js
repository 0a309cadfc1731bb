// Small pieces the pages share: headings, error messages, product pictures, cost breakdowns.

import { loadConfig } from './config.js';
import { dl, h, replace } from './dom.js';
import { errorText, statusLabel } from './messages.js';

/** The page's <h1> (focusable, so a route change can move focus to it) and document.title. */
export async function heading(text) {
  const { merchantName } = await loadConfig().catch(() => ({ merchantName: 'Storefront' }));
  document.title = `${text} · ${merchantName}`;
  return h('h1', { tabindex: '-1' }, text);
}

/** Errors next to what caused them: {code, message} each, a sentence and data-code. */
export function showErrors(slot, errors) {
  replace(
    slot,
    errors.map((error) =>
      h('p', { class: 'error', role: 'alert', dataset: { code: error.code } }, errorText(error)),
    ),
  );
}

/** A thrown error (GraphQLError or otherwise) as the errors showErrors takes. */
export function asErrors(error) {
  return [{ code: error.code ?? 'ERROR', message: error.message, retryAfter: error.retryAfter }];
}

export function clear(slot) {
  replace(slot);
}

/** A product's picture, or a tile with its initials when it has none (decorative either way). */
export function thumbnail(product, size = '') {
  if (product.imageUrl) {
    return h('img', { class: ['thumb', size], src: product.imageUrl, alt: '', loading: 'lazy' });
  }
  const initials = product.title
    .replace(/\(.*?\)/g, '')
    .split(/\s+/)
    .filter((word) => /^[A-Za-z0-9]/.test(word))
    .slice(0, 2)
    .map((word) => word[0].toUpperCase())
    .join('');
  return h('div', { class: ['thumb', 'placeholder', `cat-${product.category}`, size], 'aria-hidden': 'true' }, initials);
}

/** Subtotal, discount, GST and total of a CartCost. */
export function costBreakdown(cost, { discountLabel = 'Discount' } = {}) {
  return dl('cost', [
    ['Subtotal', cost.subtotal.formatted],
    cost.discount.amount > 0 && [discountLabel, `−\u00a0${cost.discount.formatted}`, 'discount'],
    ['GST', cost.tax.formatted],
    ['Total', h('strong', { class: 'total-amount' }, cost.total.formatted), 'total'],
  ]);
}

export function statusBadge(status) {
  return h('span', { class: 'badge', dataset: { status } }, statusLabel(status));
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

/** Disable a button while `work` runs (and show `busyText` on it). */
export async function busy(button, busyText, work) {
  const original = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (busyText) button.textContent = busyText;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    if (busyText) button.textContent = original;
  }
}
