// The frame every page shares: header (brand, navigation, who is signed in), a notice area,
// and a polite live region for announcements.

import { currentUser, onAuthChange, signOut } from './auth.js';
import { forgetCheckout } from './checkout.js';
import { loadConfig, shopUrl } from './config.js';
import { h, replace } from './dom.js';
import { execute } from './graphql.js';
import { CartCount } from './operations.js';

let header;
let countSlot;
let accountSlot;
let noticeSlot;
let announcer;
const navLinks = new Map();

/** Build the header into <header id="site-header">; `active` is 'shop', 'cart' or 'orders'. */
export async function initShell({ active = null } = {}) {
  header = document.getElementById('site-header');
  announcer = document.getElementById('announcer');
  const config = await loadConfig().catch(() => ({ merchantName: 'Storefront' }));
  countSlot = h('span', { class: 'count', hidden: true });
  accountSlot = h('div', { class: 'account' });
  noticeSlot = h('div', { class: 'notice-area', role: 'status' });
  const link = (name, href, ...label) => {
    const a = h('a', { href: shopUrl(href) }, ...label);
    navLinks.set(name, a);
    return h('li', {}, a);
  };
  replace(
    header,
    h(
      'div',
      { class: 'bar' },
      h('a', { class: 'brand', href: shopUrl('#/') }, config.merchantName),
      h(
        'nav',
        { 'aria-label': 'Main' },
        h('ul', {}, link('shop', '#/', 'Shop'), link('cart', '#/cart', 'Cart', countSlot), link('orders', '#/orders', 'Orders')),
      ),
      accountSlot,
    ),
    noticeSlot,
  );
  setActive(active);
  renderAccount();
  window.addEventListener('hashchange', renderAccount); // the Sign-in link returns here
  onAuthChange((user, reason) => {
    renderAccount();
    if (reason === 'expired') notice('Your session has ended. Please sign in again.');
    if (!user) setCartCount(null);
    else refreshCartCount();
  });
  const skip = document.querySelector('.skip-link');
  skip?.addEventListener('click', (event) => {
    event.preventDefault();
    document.getElementById('main').focus();
  });
  refreshCartCount();
}

export function setActive(active) {
  for (const [name, a] of navLinks) {
    if (name === active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function renderAccount() {
  const user = currentUser();
  if (user) {
    replace(
      accountSlot,
      h('span', { class: 'who' }, h('span', { class: 'who-label' }, 'Signed in as '), h('strong', { text: user.username })),
      h('button', { type: 'button', class: 'link-button', on: { click: onSignOut } }, 'Sign out'),
    );
  } else {
    const here = window.location.href.startsWith(shopUrl()) ? window.location.href.slice(shopUrl().length) : '';
    const next = here && !here.startsWith('#/signin') ? `?next=${encodeURIComponent(here)}` : '';
    replace(accountSlot, h('a', { class: 'button small', href: shopUrl(`#/signin${next}`) }, 'Sign in'));
  }
}

function onSignOut() {
  signOut();
  forgetCheckout();
  announce('You are signed out.');
  window.location.assign(shopUrl('#/'));
}

/** Say something to screen readers (and nothing visible). */
export function announce(text) {
  if (!announcer) return;
  announcer.textContent = '';
  // a fresh text node so the same message is announced again
  setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

/** A visible notice under the header (session expired and the like); '' clears it. */
export function notice(text) {
  if (!noticeSlot) return;
  replace(noticeSlot, text ? h('p', { class: 'notice' }, text) : null);
}

/** Update the header's item count from a cart ({lines: [{quantity}]}), or hide it. */
export function setCartCount(cart) {
  if (!countSlot) return;
  const count = cart ? cart.lines.reduce((sum, line) => sum + line.quantity, 0) : 0;
  countSlot.hidden = count === 0;
  replace(countSlot, String(count), h('span', { class: 'visually-hidden' }, count === 1 ? ' item' : ' items'));
}

export async function refreshCartCount() {
  if (!currentUser()) return setCartCount(null);
  try {
    const { cart } = await execute(CartCount);
    setCartCount(cart);
  } catch {
    // the count is a nicety: the cart page shows any error
  }
}
