// "Add to cart", shared by the product list and the product page.

import { currentUser } from '../auth.js';
import { h, replace } from '../dom.js';
import { execute } from '../graphql.js';
import { CartLinesAdd } from '../operations.js';
import { announce, setCartCount } from '../shell.js';
import { asErrors, busy, showErrors } from '../ui.js';

export async function addToCart({ product, quantity, button, slot }) {
  if (!currentUser()) {
    // browsing is anonymous; the cart is not: sign in, then come back here
    window.location.hash = `#/signin?next=${encodeURIComponent(window.location.hash || '#/')}`;
    return;
  }
  await busy(button, 'Adding…', async () => {
    try {
      const { cartLinesAdd } = await execute(CartLinesAdd, { lines: [{ productId: product.id, quantity }] });
      if (cartLinesAdd.errors.length) {
        showErrors(slot, cartLinesAdd.errors);
        return;
      }
      setCartCount(cartLinesAdd.cart);
      const line = cartLinesAdd.cart.lines.find((l) => l.product.id === product.id);
      replace(
        slot,
        h('p', { class: 'success' }, `Added. ${line ? `${line.quantity} in your cart. ` : ''}`, h('a', { href: '#/cart' }, 'View cart')),
      );
      announce(`${product.title} added to your cart.`);
    } catch (error) {
      showErrors(slot, asErrors(error));
    }
  });
}
