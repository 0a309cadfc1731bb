// Every GraphQL operation the storefront sends, by name (the SDL is schema/schema.graphql).
// Each one is {name, query}; graphql.js sends the name as operationName.
//
// Money is always {amount (integer paise), currency, formatted}: show `formatted` (the
// server formats rupees the Indian way, ₹1,23,456.78) and compute nothing on the client:
// the server prices the cart, and Checkout is opened for exactly the session's amount.

const MONEY = /* GraphQL */ `
  fragment MoneyFields on Money {
    amount
    currency
    formatted
  }
`;

const PRODUCT_CARD = /* GraphQL */ `
  fragment ProductCard on Product {
    id
    sku
    title
    category
    price { ...MoneyFields }
    gstRateBp
    stock
    imageUrl
    offers { id code description productIds categories }
  }
`;

const OFFER = /* GraphQL */ `
  fragment OfferFields on Offer {
    id
    code
    description
    kind
    percentBp
    flat { ...MoneyFields }
    maxDiscount { ...MoneyFields }
    minSubtotal { ...MoneyFields }
    endsAt
    productIds
    categories
  }
`;

const CART = /* GraphQL */ `
  fragment CartFields on Cart {
    id
    version
    lines {
      id
      quantity
      product { id sku title category gstRateBp stock imageUrl }
      unitPrice { ...MoneyFields }
      subtotal { ...MoneyFields }
      discount { ...MoneyFields }
      tax { ...MoneyFields }
      total { ...MoneyFields }
    }
    coupon {
      code
      applicable
      reason
      discount { ...MoneyFields }
      shortfall { ...MoneyFields }
    }
    cost {
      subtotal { ...MoneyFields }
      discount { ...MoneyFields }
      tax { ...MoneyFields }
      total { ...MoneyFields }
    }
  }
`;

const USER_ERROR = /* GraphQL */ `
  fragment UserErrorFields on UserError {
    code
    field
    message
  }
`;

const CHECKOUT = /* GraphQL */ `
  fragment CheckoutFields on CheckoutOptions {
    keyId
    orderId
    amount
    currency
    name
    description
    callbackUrl
    prefillEmail
    prefillContact
  }
`;

const SESSION_SUMMARY = /* GraphQL */ `
  fragment PaymentSessionSummary on PaymentSession {
    id
    status
    amount { ...MoneyFields }
    createdAt
    paidAt
    lines { productId title quantity }
  }
`;

const SESSION_DETAIL = /* GraphQL */ `
  fragment PaymentSessionDetail on PaymentSession {
    id
    status
    amount { ...MoneyFields }
    cost {
      subtotal { ...MoneyFields }
      discount { ...MoneyFields }
      tax { ...MoneyFields }
      total { ...MoneyFields }
    }
    lines {
      productId
      sku
      title
      quantity
      unitPrice { ...MoneyFields }
      discount { ...MoneyFields }
      tax { ...MoneyFields }
      total { ...MoneyFields }
    }
    couponCode
    razorpayOrderId
    razorpayPaymentId
    createdAt
    expiresAt
    paidAt
    refundedAmount { ...MoneyFields }
    refunds { id amount { ...MoneyFields } status reason createdAt processedAt }
    timeline { at type source detail }
  }
`;

function operation(name, source, ...fragments) {
  return { name, query: [source, ...fragments].map((s) => s.trim()).join('\n\n') };
}

// ---- catalog (anyone) ------------------------------------------------------------------

/** A page of products, by SKU; `after` is the previous page's pageInfo.endCursor. */
export const Products = operation(
  'Products',
  /* GraphQL */ `
    query Products($first: Int!, $after: String, $search: String, $category: String) {
      products(first: $first, after: $after, search: $search, category: $category) {
        edges { cursor node { ...ProductCard } }
        pageInfo { hasNextPage endCursor }
      }
    }
  `,
  PRODUCT_CARD,
  MONEY,
);

/** The categories for the filter (the API has no categories field: read them off one page). */
export const Categories = operation(
  'Categories',
  /* GraphQL */ `
    query Categories {
      products(first: 100) { nodes { category } }
    }
  `,
);

export const Product = operation(
  'Product',
  /* GraphQL */ `
    query Product($id: ID!) {
      product(id: $id) {
        ...ProductCard
        description
        offers { ...OfferFields }
      }
    }
  `,
  PRODUCT_CARD,
  OFFER,
  MONEY,
);

/** Live offers anyone may see (the cart lists them as hints). */
export const Offers = operation(
  'Offers',
  /* GraphQL */ `
    query Offers {
      offers { ...OfferFields }
    }
  `,
  OFFER,
  MONEY,
);

// ---- the signed-in customer ------------------------------------------------------------

export const Viewer = operation(
  'Viewer',
  /* GraphQL */ `
    query Viewer {
      viewer { id username email groups }
    }
  `,
);

export const Cart = operation(
  'Cart',
  /* GraphQL */ `
    query Cart {
      cart { ...CartFields }
    }
  `,
  CART,
  MONEY,
);

/** Just enough for the header's item count. */
export const CartCount = operation(
  'CartCount',
  /* GraphQL */ `
    query CartCount {
      cart { id version lines { id quantity } }
    }
  `,
);

/** lines: [{productId, quantity}]; the same product merges into its line. */
export const CartLinesAdd = operation(
  'CartLinesAdd',
  /* GraphQL */ `
    mutation CartLinesAdd($lines: [CartLineInput!]!) {
      cartLinesAdd(lines: $lines) {
        cart { ...CartFields }
        errors { ...UserErrorFields }
      }
    }
  `,
  CART,
  USER_ERROR,
  MONEY,
);

/** lines: [{lineId, quantity}]; quantity 0 removes the line. */
export const CartLinesUpdate = operation(
  'CartLinesUpdate',
  /* GraphQL */ `
    mutation CartLinesUpdate($lines: [CartLineUpdateInput!]!) {
      cartLinesUpdate(lines: $lines) {
        cart { ...CartFields }
        errors { ...UserErrorFields }
      }
    }
  `,
  CART,
  USER_ERROR,
  MONEY,
);

export const CartLinesRemove = operation(
  'CartLinesRemove',
  /* GraphQL */ `
    mutation CartLinesRemove($lineIds: [ID!]!) {
      cartLinesRemove(lineIds: $lineIds) {
        cart { ...CartFields }
        errors { ...UserErrorFields }
      }
    }
  `,
  CART,
  USER_ERROR,
  MONEY,
);

/** A coupon that does not apply stays on the cart, with coupon.reason (and shortfall). */
export const CartCouponApply = operation(
  'CartCouponApply',
  /* GraphQL */ `
    mutation CartCouponApply($code: String!) {
      cartCouponApply(code: $code) {
        cart { ...CartFields }
        errors { ...UserErrorFields }
      }
    }
  `,
  CART,
  USER_ERROR,
  MONEY,
);

export const CartCouponRemove = operation(
  'CartCouponRemove',
  /* GraphQL */ `
    mutation CartCouponRemove {
      cartCouponRemove {
        cart { ...CartFields }
        errors { ...UserErrorFields }
      }
    }
  `,
  CART,
  USER_ERROR,
  MONEY,
);

// ---- paying ----------------------------------------------------------------------------

/**
 * input: {idempotencyKey, expectedCartVersion, expectedAmount}. The server prices the cart,
 * reserves stock and the coupon, and creates the Razorpay order; the same key answers the
 * same session (never a second order). `checkout` is what Razorpay Checkout is opened with.
 */
export const PaymentSessionCreate = operation(
  'PaymentSessionCreate',
  /* GraphQL */ `
    mutation PaymentSessionCreate($input: PaymentSessionCreateInput!) {
      paymentSessionCreate(input: $input) {
        paymentSession {
          id
          status
          amount { ...MoneyFields }
          checkout { ...CheckoutFields }
        }
        errors { ...UserErrorFields }
      }
    }
  `,
  CHECKOUT,
  USER_ERROR,
  MONEY,
);

/** One session of the caller (null when unknown or someone else's). */
export const PaymentSession = operation(
  'PaymentSession',
  /* GraphQL */ `
    query PaymentSession($id: ID!) {
      paymentSession(id: $id) { ...PaymentSessionDetail }
    }
  `,
  SESSION_DETAIL,
  MONEY,
);

/** The caller's sessions, newest first. */
export const PaymentSessions = operation(
  'PaymentSessions',
  /* GraphQL */ `
    query PaymentSessions($first: Int!, $after: String) {
      paymentSessions(first: $first, after: $after) {
        edges { cursor node { ...PaymentSessionSummary } }
        pageInfo { hasNextPage endCursor }
      }
    }
  `,
  SESSION_SUMMARY,
  MONEY,
);
