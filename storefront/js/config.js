// Where the shop lives and what /shop/config.json says (GraphQL URL, Cognito, Checkout mode).

/** The shop's base URL (…/shop/), from this module's own address: pages work at any depth. */
export const SHOP_URL = new URL('../', import.meta.url);

/** An absolute URL inside the shop: shopUrl('#/cart'), shopUrl('checkout/success.html'). */
export function shopUrl(path = '') {
  return new URL(path, SHOP_URL).href;
}

let config;

/**
 * {graphqlUrl, merchantName, cognito: {endpoint, region, clientId},
 *  checkout: {mode: "hosted", url} | {mode: "checkout.js", script}}
 */
export function loadConfig() {
  config ??= fetch(shopUrl('config.json'), { headers: { Accept: 'application/json' } }).then(
    (response) => {
      if (!response.ok) throw new Error(`config.json answered HTTP ${response.status}`);
      return response.json();
    },
  );
  return config;
}
