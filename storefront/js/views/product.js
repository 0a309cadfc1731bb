// #/product/<id> : one product with its live offers.

import { h, replace, uid } from '../dom.js';
import { execute } from '../graphql.js';
import { formatDay, gstRate } from '../messages.js';
import { Product } from '../operations.js';
import { asErrors, heading, showErrors, thumbnail } from '../ui.js';
import { addToCart } from './cart-actions.js';

export async function render(container, params, id) {
  const { product } = await execute(Product, { id });
  if (!product) {
    replace(container, await heading('Product not found'),
      h('p', {}, 'This product does not exist or is no longer sold.'),
      h('p', {}, h('a', { href: '#/' }, 'Back to all products')));
    return;
  }
  const quantityId = uid('quantity');
  const quantity = h('input', { id: quantityId, name: 'quantity', type: 'number', inputmode: 'numeric', min: '1', max: '100', value: '1', required: true });
  const slot = h('div', { class: 'error-slot', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'button', disabled: product.stock <= 0 }, 'Add to cart');
  const form = h('form', { class: 'add-form' },
    h('div', { class: 'field' }, h('label', { for: quantityId }, 'Quantity'), quantity),
    button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    addToCart({ product, quantity: Number(quantity.value), button, slot }).catch((error) => showErrors(slot, asErrors(error)));
  });
  replace(
    container,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/' }, '← All products')),
    h('article', { class: 'product-detail' },
      thumbnail(product, 'large'),
      h('div', { class: 'detail-body' },
        await heading(product.title),
        h('p', { class: 'meta' }, h('span', { class: 'category' }, product.category), ' · SKU ', product.sku),
        h('p', { class: 'description' }, product.description),
        h('p', { class: 'price big' }, product.price.formatted, h('span', { class: 'gst' }, ` + ${gstRate(product.gstRateBp)} GST`)),
        h('p', { class: ['stock', product.stock <= 5 && 'low'] }, product.stock > 0 ? `${product.stock} in stock` : 'Out of stock'),
        form,
        slot,
      ),
    ),
    h('section', { class: 'offers', 'aria-labelledby': 'offers-heading' },
      h('h2', { id: 'offers-heading' }, 'Offers on this product'),
      product.offers.length === 0
        ? h('p', {}, 'No offers on this product right now.')
        : h('ul', { class: 'offer-list' }, product.offers.map(offerItem)),
    ),
  );
}

export function offerItem(offer) {
  const terms = [
    offer.minSubtotal && `min. order ${offer.minSubtotal.formatted}`,
    offer.maxDiscount && `max. discount ${offer.maxDiscount.formatted}`,
    offer.categories.length > 0 && `on ${offer.categories.join(', ')}`,
    offer.endsAt && `ends ${formatDay(offer.endsAt)}`,
  ].filter(Boolean);
  const termsText = terms.join(' · ');
  return h('li', { class: 'offer' },
    h('span', { class: 'coupon-code' }, offer.code),
    h('span', { class: 'offer-text' }, offer.description, termsText && h('span', { class: 'terms' }, termsText[0].toUpperCase() + termsText.slice(1))));
}
