// #/cart : lines (quantity, remove), a coupon, per-line GST, the cost breakdown, and Pay.
// Every change goes to the server, which answers the whole re-priced cart: nothing is priced
// here. Errors are shown where they happened: next to the line, the coupon form or Pay.

import { currentUser } from '../auth.js';
import { payForCart } from '../checkout.js';
import { dl, h, replace, uid } from '../dom.js';
import { execute } from '../graphql.js';
import { couponReason, gstRate } from '../messages.js';
import { Cart, CartCouponApply, CartCouponRemove, CartLinesRemove, CartLinesUpdate, Offers } from '../operations.js';
import { announce, setCartCount } from '../shell.js';
import { asErrors, busy, clear, costBreakdown, heading, loading, showErrors, thumbnail } from '../ui.js';
import { offerItem } from './product.js';

export async function render(container, params) {
  if (!currentUser()) {
    replace(container, await heading('Your cart'),
      h('p', {}, 'Sign in to see your cart and pay.'),
      h('p', {}, h('a', { class: 'button', href: `#/signin?next=${encodeURIComponent('#/cart')}` }, 'Sign in')));
    return;
  }
  replace(container, await heading('Your cart'), loading('Loading your cart…'));
  const [{ cart }, offers] = await Promise.all([
    execute(Cart),
    execute(Offers).then((data) => data.offers).catch(() => []),
  ]);
  const view = new CartView(container, offers);
  if (params.get('checkout') === 'cancelled') view.notice = 'Payment cancelled. Your cart is just as you left it.';
  await view.show(cart);
}

class CartView {
  constructor(container, offers) {
    this.container = container;
    this.offers = offers;
    this.notice = '';
  }

  /** Draw `cart`; `after` = {focus: data-focus key, errors: {slot key: [errors]}}. */
  async show(cart, after = {}) {
    this.cart = cart;
    this.slots = {};
    setCartCount(cart);
    const title = await heading('Your cart');
    if (cart.lines.length === 0) {
      replace(this.container, title,
        this.notice && h('p', { class: 'notice' }, this.notice),
        h('p', {}, 'Your cart is empty.'),
        h('p', {}, h('a', { class: 'button', href: '#/' }, 'Browse products')));
      return;
    }
    replace(
      this.container,
      title,
      this.notice && h('p', { class: 'notice', role: 'status' }, this.notice),
      h('div', { class: 'cart-layout' },
        h('section', { class: 'cart-lines', 'aria-labelledby': 'lines-heading' },
          h('h2', { id: 'lines-heading', class: 'visually-hidden' }, 'Items'),
          h('ul', { class: 'lines' }, cart.lines.map((line) => this.line(line)))),
        h('div', { class: 'cart-side' }, this.coupon(), this.summary())),
    );
    for (const [key, errors] of Object.entries(after.errors ?? {})) showErrors(this.slots[key], errors);
    if (after.focus) this.container.querySelector(`[data-focus="${after.focus}"]`)?.focus();
  }

  slot(key) {
    this.slots[key] = h('div', { class: 'error-slot', 'aria-live': 'polite' });
    return this.slots[key];
  }

  line(line) {
    const { product } = line;
    const quantityId = uid('qty');
    const titleId = uid('line');
    const quantity = h('input', {
      id: quantityId, type: 'number', inputmode: 'numeric', min: '0', max: '100', value: String(line.quantity),
      dataset: { focus: `qty-${line.id}` }, 'aria-describedby': titleId,
    });
    quantity.addEventListener('change', () => this.setQuantity(line, quantity));
    const remove = h('button', { type: 'button', class: 'link-button danger', dataset: { focus: `remove-${line.id}` }, 'aria-describedby': titleId }, 'Remove');
    remove.addEventListener('click', () => this.remove(line, remove));
    return h('li', { class: 'line', dataset: { lineId: line.id } },
      h('article', { 'aria-labelledby': titleId },
        thumbnail(product, 'small'),
        h('div', { class: 'line-main' },
          h('h3', { id: titleId, class: 'line-title' }, h('a', { href: `#/product/${encodeURIComponent(product.id)}` }, product.title)),
          h('p', { class: 'meta' }, `${line.unitPrice.formatted} each · GST ${gstRate(product.gstRateBp)}`),
          h('div', { class: 'line-controls' },
            h('label', { for: quantityId }, 'Quantity'), quantity, remove),
          this.slot(`line-${line.id}`)),
        dl('line-amounts', [
          ['Subtotal', line.subtotal.formatted],
          line.discount.amount > 0 && ['Discount', `−\u00a0${line.discount.formatted}`, 'discount'],
          [`GST ${gstRate(product.gstRateBp)}`, line.tax.formatted],
          ['Line total', h('strong', {}, line.total.formatted), 'total'],
        ])));
  }

  coupon() {
    const { coupon } = this.cart;
    const inputId = uid('coupon');
    const hintId = uid('coupon-hint');
    const input = h('input', { id: inputId, name: 'code', type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', 'aria-describedby': hintId, dataset: { focus: 'coupon' } });
    const form = h('form', { class: 'coupon-form' },
      h('div', { class: 'field grow' }, h('label', { for: inputId }, 'Coupon code'), input),
      h('button', { type: 'submit', class: 'button secondary' }, 'Apply'));
    const slot = this.slot('coupon');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.applyCoupon(input.value.trim().toUpperCase(), form.querySelector('button'));
    });
    return h('section', { class: 'panel coupon', 'aria-labelledby': 'coupon-heading' },
      h('h2', { id: 'coupon-heading' }, 'Coupon'),
      coupon && this.couponStatus(coupon),
      form,
      slot,
      h('p', { id: hintId, class: 'hint' }, 'One coupon per order. A new code replaces the current one.'),
      this.offers.length > 0 && h('details', { class: 'offer-hints' },
        h('summary', {}, 'Available offers'),
        h('ul', { class: 'offer-list' }, this.offers.map(offerItem))));
  }

  couponStatus(coupon) {
    const remove = h('button', { type: 'button', class: 'link-button', dataset: { focus: 'coupon-remove' } }, 'Remove coupon');
    remove.addEventListener('click', () => this.removeCoupon(remove));
    if (coupon.applicable) {
      return h('div', { class: 'coupon-status ok', role: 'status' },
        h('p', {}, h('span', { class: 'coupon-code' }, coupon.code), ` applied: you save ${coupon.discount.formatted}.`),
        remove);
    }
    const offer = this.offers.find((o) => o.code === coupon.code);
    const scope = offer?.categories?.length ? ` of ${offer.categories.join(' or ')} items`
      : offer?.productIds?.length ? ' of the products it covers' : '';
    return h('div', { class: 'coupon-status bad', role: 'status', dataset: { reason: coupon.reason ?? '' } },
      h('p', {}, h('span', { class: 'coupon-code' }, coupon.code), ' does not apply. ', couponReason(coupon.reason)),
      coupon.shortfall && h('p', { class: 'shortfall' }, h('strong', {}, `Add ${coupon.shortfall.formatted} more`), `${scope} to use it.`),
      remove);
  }

  summary() {
    const { cost, coupon } = this.cart;
    const pay = h('button', { type: 'button', class: 'button primary pay', dataset: { focus: 'pay' } }, `Pay ${cost.total.formatted}`);
    pay.addEventListener('click', () => this.pay(pay));
    return h('section', { class: 'panel summary', 'aria-labelledby': 'summary-heading' },
      h('h2', { id: 'summary-heading' }, 'Order summary'),
      costBreakdown(cost, { discountLabel: coupon?.applicable ? `Discount (${coupon.code})` : 'Discount' }),
      pay,
      this.slot('pay'),
      h('p', { class: 'hint' }, 'GST is added per item at its own rate. You pay on Razorpay’s secure page.'));
  }

  /** A mutation answering CartPayload: show the new cart, or the errors in `slot`. */
  async change(button, busyText, slotKey, run, { focus, said } = {}) {
    const work = async () => {
      try {
        const payload = await run();
        if (payload.errors.length) {
          await this.show(this.cart, { errors: { [slotKey]: payload.errors }, focus });
          return;
        }
        this.notice = '';
        await this.show(payload.cart, { focus });
        if (said) announce(said(payload.cart));
      } catch (error) {
        await this.show(this.cart, { errors: { [slotKey]: asErrors(error) }, focus });
      }
    };
    return button ? busy(button, busyText, work) : work();
  }

  setQuantity(line, input) {
    const quantity = Number(input.value);
    if (!Number.isInteger(quantity) || input.value === '') {
      showErrors(this.slots[`line-${line.id}`], [{ code: 'INVALID_INPUT', message: 'Enter a whole number.' }]);
      return;
    }
    input.disabled = true;
    this.change(null, null, `line-${line.id}`,
      async () => (await execute(CartLinesUpdate, { lines: [{ lineId: line.id, quantity }] })).cartLinesUpdate,
      { focus: quantity === 0 ? 'pay' : `qty-${line.id}`, said: (cart) => `Quantity updated. Total ${cart.cost.total.formatted}.` });
  }

  remove(line, button) {
    this.change(button, 'Removing…', `line-${line.id}`,
      async () => (await execute(CartLinesRemove, { lineIds: [line.id] })).cartLinesRemove,
      { focus: 'coupon', said: () => `${line.product.title} removed from your cart.` });
  }

  applyCoupon(code, button) {
    if (!code) {
      showErrors(this.slots.coupon, [{ code: 'INVALID_INPUT', message: 'Enter a coupon code.' }]);
      return;
    }
    this.change(button, 'Applying…', 'coupon',
      async () => (await execute(CartCouponApply, { code })).cartCouponApply,
      { focus: 'coupon', said: (cart) => (cart.coupon?.applicable ? `Coupon ${code} applied.` : `Coupon ${code} does not apply.`) });
  }

  removeCoupon(button) {
    this.change(button, 'Removing…', 'coupon',
      async () => (await execute(CartCouponRemove)).cartCouponRemove,
      { focus: 'coupon', said: () => 'Coupon removed.' });
  }

  async pay(button) {
    clear(this.slots.pay);
    await busy(button, 'Opening Razorpay Checkout…', async () => {
      try {
        const { errors } = await payForCart(this.cart);
        if (!errors) return; // on our way to Checkout
        // the cart may have moved (another tab, stock, the coupon): show it as it is now
        const { cart } = await execute(Cart);
        await this.show(cart, { errors: { pay: errors }, focus: 'pay' });
      } catch (error) {
        showErrors(this.slots.pay, asErrors(error));
      }
    });
  }
}
