// The shop's single page (index.html) and its hash routes:
//   #/?q=…&category=…   products        #/product/<id>   one product
//   #/cart               the cart        #/orders         the customer's orders
//   #/signin?next=…      sign in
// The confirmation and failure pages that Razorpay's callback redirects to are separate
// pages (checkout/success.html, checkout/failure.html).

import { h, replace } from './dom.js';
import { initShell, setActive } from './shell.js';
import { asErrors, heading, showErrors } from './ui.js';
import * as cart from './views/cart.js';
import * as catalog from './views/catalog.js';
import * as orders from './views/orders.js';
import * as product from './views/product.js';
import * as signin from './views/signin.js';

const routes = [
  [/^\/?$/, 'shop', (c, params) => catalog.render(c, params)],
  [/^\/product\/([^/]+)$/, 'shop', (c, params, id) => product.render(c, params, decodeURIComponent(id))],
  [/^\/cart$/, 'cart', (c, params) => cart.render(c, params)],
  [/^\/orders$/, 'orders', (c) => orders.render(c)],
  [/^\/signin$/, null, (c, params) => signin.render(c, params)],
];

const main = document.getElementById('main');
let firstRender = true;

async function route() {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  // each render draws into its own container: a slow answer for a page already left
  // lands in a detached element and is never seen
  const container = h('div', { class: 'page' });
  replace(main, container);
  const match = routes.map(([pattern, active, view]) => [path.match(pattern), active, view]).find(([m]) => m);
  try {
    if (!match) {
      setActive(null);
      replace(container, await heading('Page not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the shop')));
    } else {
      const [m, active, view] = match;
      setActive(active);
      await view(container, params, ...m.slice(1));
    }
  } catch (error) {
    replace(container, await heading('Something went wrong'), h('div', { class: 'error-slot' }));
    showErrors(container.querySelector('.error-slot'), asErrors(error));
  }
  if (!firstRender && container.isConnected && !container.contains(document.activeElement)) {
    // a new page: move focus to its heading so screen readers start there
    container.querySelector('h1')?.focus();
  }
  firstRender = false;
}

await initShell();
window.addEventListener('hashchange', route);
await route();
