// Words for the API's enums: why a coupon does not apply, what a payment status means, and
// what to tell the customer for each UserError / request error code.

/** Every CouponReason of the schema, as a sentence. */
export const COUPON_REASONS = {
  NOT_FOUND: 'There is no coupon with this code.',
  NOT_STARTED: 'This coupon is not valid yet.',
  EXPIRED: 'This coupon has expired.',
  MIN_SUBTOTAL_NOT_MET: 'Your cart is below the minimum order value for this coupon.',
  NO_ELIGIBLE_ITEMS: 'None of the items in your cart are covered by this coupon.',
  USAGE_LIMIT_REACHED: 'This coupon has been used up.',
  PER_USER_LIMIT_REACHED: 'You have already used this coupon as often as it allows.',
};

export function couponReason(reason) {
  return COUPON_REASONS[reason] ?? 'This coupon does not apply to your cart.';
}

/** PaymentStatus → [short label, what it means for the customer]. */
export const PAYMENT_STATUS = {
  CREATED: ['Awaiting payment', 'Waiting for your payment.'],
  ATTEMPTED: ['Payment attempt failed', 'A payment attempt did not go through. You can try again.'],
  AUTHORIZED: ['Confirming', 'Your bank approved the payment; we are confirming it.'],
  PAID: ['Paid', 'Payment received. Thank you for your order!'],
  FAILED: ['Failed', 'The payment failed. No order was placed.'],
  EXPIRED: ['Expired', 'This order was not paid within 30 minutes and has expired.'],
  CANCELLED: ['Cancelled', 'This order was cancelled.'],
  PARTIALLY_REFUNDED: ['Partly refunded', 'Part of this payment has been refunded.'],
  REFUNDED: ['Refunded', 'This payment has been refunded in full.'],
};

/** A session in one of these states will not change any more (the confirmation stops polling). */
export const SETTLED = new Set(['PAID', 'FAILED', 'EXPIRED', 'CANCELLED', 'REFUNDED', 'PARTIALLY_REFUNDED']);
/** Checkout can (still) be opened for a session in one of these states. */
export const PAYABLE = new Set(['CREATED', 'ATTEMPTED']);

export function statusLabel(status) {
  return PAYMENT_STATUS[status]?.[0] ?? status;
}

export function statusText(status) {
  return PAYMENT_STATUS[status]?.[1] ?? '';
}

const ERRORS = {
  INVALID_INPUT: 'Please check what you entered.',
  PRODUCT_NOT_FOUND: 'This product is no longer available.',
  OUT_OF_STOCK: 'Not enough in stock.',
  QUANTITY_LIMIT: 'You can buy 1 to 100 of each item.',
  LINE_LIMIT: 'Your cart can hold at most 50 different items.',
  LINE_NOT_FOUND: 'This item is no longer in your cart.',
  CART_EMPTY: 'Your cart is empty.',
  CART_TOTAL_LIMIT: 'A cart can total at most ₹5,00,000.',
  CART_VERSION_MISMATCH: 'Your cart changed in the meantime. Check it and pay again.',
  AMOUNT_MISMATCH: 'The total changed since you looked. Check your cart and pay again.',
  COUPON_INVALID: 'The coupon on your cart does not apply. Remove it or change your cart, then pay.',
  OFFER_NOT_FOUND: 'This offer does not exist.',
  IDEMPOTENCY_KEY_REUSED: 'Your cart changed since you started paying. Pay again.',
  PAYMENT_SESSION_NOT_FOUND: 'We could not find this order.',
  PAYMENT_SESSION_CLOSED: 'This order can no longer be paid.',
  PAYMENT_IN_PROGRESS: 'A payment for this cart is being completed. Wait a moment.',
  GATEWAY_UNAVAILABLE: 'The payment service is not answering. Try again in a moment.',
  RATE_LIMITED: 'Too many attempts.',
  UNAUTHENTICATED: 'Please sign in again.',
  FORBIDDEN: 'You are not allowed to do that.',
  NETWORK_ERROR: 'The shop could not be reached. Check your connection.',
};

// codes whose server message adds specifics worth showing (which product, how many are left)
const WITH_DETAIL = new Set(['OUT_OF_STOCK', 'INVALID_INPUT', 'PRODUCT_NOT_FOUND']);

/**
 * A UserError ({code, field, message}) or a GraphQLError ({code, message, retryAfter}) as
 * words for the customer: ours for the code, plus the server's specifics where they help.
 */
export function errorText(error) {
  const ours = ERRORS[error.code];
  if (error.code === 'RATE_LIMITED') {
    return error.retryAfter ? `${ours} Try again in ${error.retryAfter} s.` : `${ours} Try again shortly.`;
  }
  if (!ours) return sentence(error.message) || 'Something went wrong. Try again.';
  return WITH_DETAIL.has(error.code) && error.message ? `${ours} ${sentence(error.message)}` : ours;
}

function sentence(text) {
  if (!text) return '';
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

const DATE = new Intl.DateTimeFormat('en-IN', {
  dateStyle: 'medium',
  timeStyle: 'short',
  timeZone: 'Asia/Kolkata',
});
const DAY = new Intl.DateTimeFormat('en-IN', { dateStyle: 'medium', timeZone: 'Asia/Kolkata' });
const TIME = new Intl.DateTimeFormat('en-IN', {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZone: 'Asia/Kolkata',
});

/** A DateTime of the API (ISO 8601) in the merchant's time zone. */
export function formatDate(iso) {
  return iso ? `${DATE.format(new Date(iso))} IST` : '';
}

export function formatDay(iso) {
  return iso ? DAY.format(new Date(iso)) : '';
}

export function formatTime(iso) {
  return iso ? TIME.format(new Date(iso)) : '';
}

/** gstRateBp 1800 → "18 %". */
export function gstRate(bp) {
  return `${(bp / 100).toLocaleString('en-IN', { maximumFractionDigits: 2 })} %`;
}

/** Short order reference shown to customers (the session id's first 8 characters). */
export function orderRef(id) {
  return id.slice(0, 8);
}
