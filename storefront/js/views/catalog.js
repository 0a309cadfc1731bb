// #/?q=…&category=… : the product list with search, a category filter and "Load more"
// (cursor pagination: products(first, after, search, category)).

import { h, replace, uid } from '../dom.js';
import { execute } from '../graphql.js';
import { gstRate } from '../messages.js';
import { Categories, Offers, Products } from '../operations.js';
import { announce } from '../shell.js';
import { asErrors, heading, loading, showErrors, thumbnail } from '../ui.js';
import { addToCart } from './cart-actions.js';

const PAGE_SIZE = 12;
let categories = null; // read once per page load

export async function render(container, params) {
  const search = params.get('q')?.trim() || null;
  const category = params.get('category') || null;
  const searchId = uid('search');
  const categoryId = uid('category');
  const select = h('select', { id: categoryId, name: 'category' }, h('option', { value: '' }, 'All categories'));
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Products' },
    h('div', { class: 'field grow' }, h('label', { for: searchId }, 'Search products'),
      h('input', { id: searchId, name: 'q', type: 'search', value: search ?? '', autocomplete: 'off', placeholder: 'e.g. tea, cotton, ELE-' })),
    h('div', { class: 'field' }, h('label', { for: categoryId }, 'Category'), select),
    h('button', { type: 'submit', class: 'button' }, 'Search'),
  );
  const status = h('p', { class: 'result-count', role: 'status' });
  const list = h('ul', { class: 'product-grid', 'aria-label': 'Products' });
  const more = h('button', { type: 'button', class: 'button secondary', hidden: true }, 'Load more');
  const errors = h('div', { class: 'error-slot' });
  const strip = h('div', { class: 'offer-strip-slot' });
  replace(container, await heading(search ? `Results for “${search}”` : 'Products'), strip, form, status, list, errors, h('div', { class: 'more' }, more));
  storewideOffers(strip);

  const go = () => {
    const next = new URLSearchParams();
    const q = form.elements.q.value.trim();
    if (q) next.set('q', q);
    if (select.value) next.set('category', select.value);
    const query = next.toString();
    window.location.hash = `#/${query ? `?${query}` : ''}`;
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    go();
  });
  select.addEventListener('change', go);

  fillCategories(select, category);

  let cursor = null;
  let shown = 0;
  const load = async () => {
    const { products } = await execute(Products, { first: PAGE_SIZE, after: cursor, search, category });
    for (const { node } of products.edges) list.append(card(node));
    shown += products.edges.length;
    cursor = products.pageInfo.endCursor;
    more.hidden = !products.pageInfo.hasNextPage;
    status.textContent = shown === 0
      ? 'No products match. Try another search or category.'
      : `Showing ${shown} product${shown === 1 ? '' : 's'}${products.pageInfo.hasNextPage ? ' (more below)' : ''}.`;
    return products.edges.length;
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const firstNew = list.children.length;
      const added = await load();
      announce(`${added} more products loaded.`);
      list.children[firstNew]?.querySelector('a')?.focus();
    } catch (error) {
      showErrors(errors, asErrors(error));
    } finally {
      more.disabled = false;
    }
  });
  replace(status, loading('Loading products…'));
  try {
    await load();
  } catch (error) {
    status.textContent = '';
    showErrors(errors, asErrors(error));
  }
}

async function fillCategories(select, selected) {
  try {
    categories ??= await execute(Categories).then(({ products }) => [...new Set(products.nodes.map((p) => p.category))].sort());
  } catch {
    categories = null; // the filter stays at "All categories"; the list still works
    return;
  }
  for (const name of categories) {
    select.append(h('option', { value: name, selected: name === selected }, name[0].toUpperCase() + name.slice(1)));
  }
}

/** Offers on everything (no products or categories named): once above the list, not on every card. */
async function storewideOffers(slot) {
  let offers;
  try {
    ({ offers } = await execute(Offers));
  } catch {
    return; // a nicety: the cart lists the offers too
  }
  const storewide = offers.filter((offer) => offer.productIds.length === 0 && offer.categories.length === 0);
  if (storewide.length === 0) return;
  replace(slot, h('section', { class: 'offer-strip', 'aria-label': 'Offers on everything' },
    h('ul', {}, storewide.map((offer) => h('li', {}, h('span', { class: 'coupon-code' }, offer.code), ' ', offer.description)))));
}

const scoped = (offer) => offer.productIds.length > 0 || offer.categories.length > 0;

function stockText(stock) {
  if (stock <= 0) return 'Out of stock';
  if (stock <= 5) return `Only ${stock} left`;
  return 'In stock';
}

function card(product) {
  const titleId = uid('product');
  const errors = h('div', { class: 'error-slot', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'button', disabled: product.stock <= 0, 'aria-describedby': titleId }, 'Add to cart');
  button.addEventListener('click', () => addToCart({ product, quantity: 1, button, slot: errors }));
  return h(
    'li',
    { class: 'product-card' },
    h('article', { 'aria-labelledby': titleId },
      thumbnail(product),
      h('div', { class: 'card-body' },
        h('h2', { id: titleId, class: 'card-title' }, h('a', { href: `#/product/${encodeURIComponent(product.id)}` }, product.title)),
        h('p', { class: 'meta' }, h('span', { class: 'category' }, product.category), ' · ', h('span', {}, product.sku)),
        h('p', { class: 'price' }, product.price.formatted, h('span', { class: 'gst' }, ` + ${gstRate(product.gstRateBp)} GST`)),
        h('p', { class: ['stock', product.stock <= 5 && 'low'] }, stockText(product.stock)),
        product.offers.some(scoped) &&
          h('ul', { class: 'offer-tags', 'aria-label': 'Offers on this product' },
            product.offers.filter(scoped).map((offer) => h('li', {}, h('span', { class: 'coupon-code' }, offer.code), ' ', offer.description))),
        h('div', { class: 'card-actions' }, button),
        errors,
      ),
    ),
  );
}
