// Sign-in: email and password (or single sign-on, through the server's /signin/oidc page); the server sets the session cookie and returns the CSRF token for writes.
import { api } from '../lib/api.js';
import { el, replace } from '../lib/dom.js';

export function signInView(main, onSignedIn) {
  const error = el('p', { role: 'alert', class: 'error' });
  const email = el('input', { id: 'email', type: 'email', name: 'email', autocomplete: 'username', required: true, maxLength: 254 });
  const password = el('input', { id: 'password', type: 'password', name: 'password', autocomplete: 'current-password', required: true, maxLength: 200 });
  const button = el('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = el(
    'form',
    {
      class: 'card signin',
      onsubmit: async (e) => {
        e.preventDefault();
        button.disabled = true;
        replace(error);
        try {
          onSignedIn(await api('POST', '/v1/auth/signin', { email: email.value, password: password.value }));
        } catch (err) {
          replace(error, err.message);
          password.select();
        } finally {
          button.disabled = false;
        }
      },
    },
    el('h1', {}, 'Sign in to Gatehouse'),
    el('label', { for: 'email' }, 'Email'),
    email,
    el('label', { for: 'password' }, 'Password'),
    password,
    error,
    button,
    // Single sign-on is the server's page (api/pages/sso.ts): it asks the e-mail and lists the identity providers.
    el('p', {}, el('a', { href: '/signin/oidc', id: 'sso' }, 'Sign in with single sign-on')),
  );
  replace(main, form);
  email.focus();
}
