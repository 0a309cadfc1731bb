// GraphQL over HTTP: one POST per operation to config.graphqlUrl, with the signed-in user's
// ID token (auth.js bearerToken). Request-level failures (errors[] at the top: UNAUTHENTICATED, RATE_LIMITED,
// QUERY_TOO_COMPLEX, ...) are thrown as GraphQLError; expected failures of a mutation come back
// as data (payload.errors: [UserError]) and are for the caller to show where they happened.

import { bearerToken, refresh, signOut } from './auth.js';
import { loadConfig, shopUrl } from './config.js';

export class GraphQLError extends Error {
  constructor({ message, code, retryAfter = null, requestId = null }) {
    super(message);
    this.code = code;
    this.retryAfter = retryAfter;
    this.requestId = requestId;
  }
}

/**
 * execute(Products, {first: 20}) → data. `operation` is one of ./operations.js:
 * {name, query}. The operation name is sent too: it shows in the API's logs and metrics.
 */
export async function execute(operation, variables = {}, { retried = false } = {}) {
  const config = await loadConfig();
  const token = await bearerToken();
  const headers = {
    'Content-Type': 'application/json',
    Accept: 'application/graphql-response+json, application/json;q=0.9',
  };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(shopUrl(config.graphqlUrl), {
      method: 'POST',
      headers,
      body: JSON.stringify({ query: operation.query, operationName: operation.name, variables }),
    });
  } catch {
    throw new GraphQLError({
      message: 'The shop could not be reached. Check your connection and try again.',
      code: 'NETWORK_ERROR',
    });
  }
  const body = await response.json().catch(() => null);
  if (!body) {
    throw new GraphQLError({ message: `Unexpected answer (HTTP ${response.status}).`, code: 'BAD_RESPONSE' });
  }
  const [error] = body.errors ?? [];
  if (error) {
    const code = error.extensions?.code ?? 'INTERNAL_SERVER_ERROR';
    if (code === 'UNAUTHENTICATED' && token) {
      // the token was refused (expired while the page slept, or revoked): renew once
      if (!retried && (await refresh())) return execute(operation, variables, { retried: true });
      signOut('expired');
    }
    throw new GraphQLError({
      message: error.message,
      code,
      retryAfter: error.extensions?.retryAfter ?? null,
      requestId: body.extensions?.requestId ?? null,
    });
  }
  return body.data;
}
