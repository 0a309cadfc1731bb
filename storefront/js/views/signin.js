// #/signin?next=… : username and password (Cognito USER_PASSWORD_AUTH), then back to `next`.

import { currentUser, signIn } from '../auth.js';
import { shopUrl } from '../config.js';
import { h, replace, uid } from '../dom.js';
import { execute } from '../graphql.js';
import { Viewer } from '../operations.js';
import { announce, notice } from '../shell.js';
import { busy, heading } from '../ui.js';

export async function render(container, params) {
  const next = safeNext(params.get('next'));
  const user = currentUser();
  if (user) {
    replace(container, await heading('Sign in'),
      h('p', {}, 'You are signed in as ', h('strong', {}, user.username), '.'),
      h('p', {}, h('a', { href: next }, 'Continue')));
    return;
  }
  const userId = uid('username');
  const passId = uid('password');
  const errors = h('div', { class: 'error-slot' });
  const button = h('button', { type: 'submit', class: 'button primary' }, 'Sign in');
  const form = h('form', { class: 'signin-form panel', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: userId }, 'Username'),
      h('input', { id: userId, name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true })),
    h('div', { class: 'field' }, h('label', { for: passId }, 'Password'),
      h('input', { id: passId, name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    errors,
    button,
    h('p', { class: 'hint' }, 'Locally, the demo users and their passwords are in .devstack/stack.json.'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (!username || !password) {
      replace(errors, h('p', { class: 'error', role: 'alert' }, 'Enter your username and password.'));
      (username ? form.elements.password : form.elements.username).focus();
      return;
    }
    await busy(button, 'Signing in…', async () => {
      try {
        await signIn(username, password);
      } catch (error) {
        replace(errors, h('p', { class: 'error', role: 'alert', dataset: { code: error.type ?? 'ERROR' } }, error.message));
        form.elements.password.select();
        return;
      }
      notice('');
      // the API's view of the token: who it says we are
      const { viewer } = await execute(Viewer).catch(() => ({ viewer: null }));
      announce(`Signed in as ${viewer?.username ?? username}.`);
      window.location.assign(next);
    });
  });
  replace(container, await heading('Sign in'), form);
  form.elements.username.focus();
}

/** `next` stays inside the shop: '#/cart' or 'checkout/success.html?…'; anything else: home. */
function safeNext(next) {
  if (!next) return shopUrl('#/');
  const target = new URL(next, shopUrl());
  return target.origin === window.location.origin && target.href.startsWith(shopUrl()) ? target.href : shopUrl('#/');
}
