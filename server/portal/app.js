// The portal's script: each page (body[data-page]) calls authd's JSON API from this origin with
// the session cookie, and shows every refusal as a sentence next to the field it concerns.
'use strict';

(() => {
  const $ = (selector, root = document) => root.querySelector(selector);

  // One API call. Resolves to {ok, status, data}; a refusal's data is the problem+json body
  // ({code, detail}), and a network failure is one too.
  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let answer;
    try {
      answer = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, data: { code: 'unreachable', detail: 'authd cannot be reached. Check your connection and try again.' } };
    }
    let data = {};
    if (answer.status !== 204) data = await answer.json().catch(() => ({}));
    if (!answer.ok && !data.detail) data.detail = `That did not work (HTTP ${answer.status}).`;
    return { ok: answer.ok, status: answer.status, data };
  }

  // Every field gets an error line of its own, announced when it changes.
  function prepare(form) {
    for (const input of form.querySelectorAll('input[name]')) {
      const error = document.createElement('p');
      error.className = 'error';
      error.id = `${input.id}-error`;
      error.setAttribute('aria-live', 'polite');
      input.insertAdjacentElement('afterend', error);
      input.setAttribute('aria-describedby', error.id);
    }
    const general = document.createElement('p');
    general.className = 'error';
    general.dataset.formError = '';
    general.setAttribute('role', 'alert');
    form.querySelector('button[type="submit"]').insertAdjacentElement('beforebegin', general);
  }

  function clearErrors(form) {
    for (const error of form.querySelectorAll('.error')) error.textContent = '';
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  }

  // The field a problem is about: the one listing its code in data-codes, or the one the detail
  // names ("The field 'email' is required."); else the form as a whole.
  function fieldOf(form, problem) {
    const byCode = problem.code && form.querySelector(`[data-codes~="${problem.code}"]`);
    if (byCode) return byCode;
    const named = /'([a-z_]+)'/.exec(problem.detail || '');
    return named ? form.querySelector(`[name="${named[1]}"]`) : null;
  }

  function showProblem(form, problem) {
    const input = fieldOf(form, problem);
    if (input) {
      $(`#${input.id}-error`).textContent = problem.detail;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } else {
      $('[data-form-error]', form).textContent = problem.detail;
    }
  }

  // Runs work on submit; a problem it returns is shown, and the button waits meanwhile.
  function onSubmit(form, work) {
    prepare(form);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      try {
        const problem = await work(form);
        if (problem) showProblem(form, problem);
      } finally {
        button.disabled = false;
      }
    });
  }

  function say(element, text) {
    element.textContent = text;
    element.hidden = false;
  }

  const when = (time) => (time ? new Date(time).toLocaleString() : 'never');

  // --- /login: password, then the second factor when the account has one -------------------
  function login() {
    const form = $('#login');
    const mfa = $('#mfa');
    const next = form.dataset.next;
    let mfaToken = null;
    onSubmit(form, async () => {
      const identifier = form.identifier.value.trim();
      const body = identifier.includes('@') ? { email: identifier } : { username: identifier };
      body.password = form.password.value;
      const answer = await api('POST', '/api/v1/login', body);
      if (!answer.ok) return answer.data;
      if (answer.data.mfa_required) {
        mfaToken = answer.data.mfa_token;
        form.hidden = true;
        mfa.hidden = false;
        mfa.code.focus();
        return null;
      }
      window.location.assign(next);
      return null;
    });
    onSubmit(mfa, async () => {
      const code = mfa.code.value.trim();
      const body = { mfa_token: mfaToken };
      if (/^\d{6}$/.test(code.replace(/\s/g, ''))) body.code = code.replace(/\s/g, '');
      else body.recovery_code = code;
      const answer = await api('POST', '/api/v1/login/mfa', body);
      if (answer.ok) {
        window.location.assign(next);
        return null;
      }
      if (answer.data.code === 'invalid_mfa_token') {
        mfa.hidden = true;
        form.hidden = false;
        form.password.value = '';
        form.password.focus();
        showProblem(form, { detail: 'That sign-in has expired: please enter your password again.' });
        return null;
      }
      return answer.data;
    });
  }

  // --- /signup: create the account, then sign in ----------------------------------------------
  function signup() {
    const form = $('#signup');
    onSubmit(form, async () => {
      const username = form.username.value.trim();
      const password = form.password.value;
      const created = await api('POST', '/api/v1/signup', { username, email: form.email.value.trim(), password });
      if (!created.ok) return created.data;
      const signedIn = await api('POST', '/api/v1/login', { username, password });
      if (signedIn.ok && !signedIn.data.mfa_required) {
        window.location.assign('/account');
        return null;
      }
      form.hidden = true;
      say($('#done'), signedIn.data.code === 'email_not_verified'
        ? 'Your account is ready. Confirm your address with the link we mailed you, then sign in.'
        : 'Your account is ready. You can sign in now.');
      $('#done-links').hidden = false;
      return null;
    });
  }

  // --- /account ----------------------------------------------------------------------------
  async function account() {
    const me = await api('GET', '/api/v1/me');
    if (me.status === 401) {
      window.location.assign('/login');
      return;
    }
    if (!me.ok) {
      say($('#load-error'), me.data.detail);
      return;
    }
    $('#account').hidden = false;
    let user = me.data.user;

    function showUser() {
      // For password managers: which account these password fields belong to.
      for (const hint of document.querySelectorAll('.username-hint')) hint.value = user.username;
      $('#who-username').textContent = user.username;
      $('#who-email').textContent = user.email + (user.email_verified === false ? ' (not confirmed yet)' : '');
      $('#who-role').textContent = user.role;
      $('#who-factor').textContent = user.two_factor ? 'on' : 'off';
      $('#totp-off').hidden = user.two_factor;
      $('#totp-on').hidden = !user.two_factor;
    }
    showUser();

    const statusOf = (section) => $('.status', section);

    onSubmit($('#password-form'), async (form) => {
      const answer = await api('POST', '/api/v1/password', { current_password: form.current_password.value, new_password: form.new_password.value });
      if (!answer.ok) return answer.data;
      form.reset();
      say(statusOf($('#password')), 'Your password is changed. Your other sessions have ended.');
      await showSessions();
      return null;
    });

    onSubmit($('#email-form'), async (form) => {
      const newEmail = form.new_email.value.trim();
      const answer = await api('POST', '/api/v1/email', { password: form.password.value, new_email: newEmail });
      if (!answer.ok) return answer.data;
      form.reset();
      say(statusOf($('#email')), `We sent a link to ${newEmail}. Your address changes when you follow it.`);
      return null;
    });

    function showCodes(codes) {
      const list = $('#codes-list');
      list.replaceChildren(...codes.map((code) => {
        const item = document.createElement('li');
        item.textContent = code;
        return item;
      }));
      $('#codes').hidden = false;
      $('#codes').focus();
    }

    onSubmit($('#totp-setup-form'), async (form) => {
      const answer = await api('POST', '/api/v1/totp/setup', { password: form.password.value });
      if (!answer.ok) return answer.data;
      form.reset();
      form.hidden = true;
      $('#totp-qr').src = `/api/v1/totp/qr.svg?t=${Date.now()}`;
      $('#totp-secret').textContent = answer.data.secret;
      $('#totp-pending').hidden = false;
      $('#totp-confirm-form').code.focus();
      return null;
    });

    onSubmit($('#totp-confirm-form'), async (form) => {
      const answer = await api('POST', '/api/v1/totp/confirm', { code: form.code.value.replace(/\s/g, '') });
      if (!answer.ok) return answer.data;
      form.reset();
      $('#totp-pending').hidden = true;
      $('#totp-setup-form').hidden = false;
      user = { ...user, two_factor: true };
      showUser();
      showCodes(answer.data.recovery_codes);
      await showSessions();
      return null;
    });

    onSubmit($('#totp-disable-form'), async (form) => {
      const answer = await api('POST', '/api/v1/totp/disable', { password: form.password.value, code: form.code.value.trim() });
      if (!answer.ok) return answer.data;
      form.reset();
      $('#codes').hidden = true;
      user = { ...user, two_factor: false };
      showUser();
      await showSessions();
      return null;
    });

    onSubmit($('#codes-form'), async (form) => {
      const answer = await api('POST', '/api/v1/recovery-codes', { password: form.password.value, code: form.code.value.trim() });
      if (!answer.ok) return answer.data;
      form.reset();
      showCodes(answer.data.recovery_codes);
      return null;
    });

    async function showSessions() {
      const answer = await api('GET', '/api/v1/sessions');
      const error = $('#sessions-error');
      error.textContent = answer.ok ? '' : answer.data.detail;
      if (!answer.ok) return;
      const list = $('#sessions-list');
      list.replaceChildren(...answer.data.sessions.map((session) => {
        const item = document.createElement('li');
        const what = document.createElement('span');
        what.className = 'what';
        what.textContent = `${session.user_agent || 'Unknown browser'} · ${session.ip || 'unknown address'} · since ${when(session.created_at)} · last seen ${when(session.last_seen_at)}${session.aal === 'aal2' ? ' · with second factor' : ''}`;
        item.append(what);
        if (session.current) {
          const here = document.createElement('strong');
          here.textContent = 'This browser';
          item.append(here);
        } else {
          const end = document.createElement('button');
          end.type = 'button';
          end.className = 'quiet';
          end.textContent = 'End this one';
          end.dataset.session = session.id;
          end.addEventListener('click', async () => {
            end.disabled = true;
            const ended = await api('DELETE', `/api/v1/sessions/${encodeURIComponent(session.id)}`);
            if (!ended.ok && ended.status !== 404) {
              error.textContent = ended.data.detail;
              end.disabled = false;
              return;
            }
            await showSessions();
            $('#sessions-list').focus();
          });
          item.append(end);
        }
        return item;
      }));
    }
    await showSessions();

    async function leave(path) {
      const answer = await api('POST', path);
      if (!answer.ok && answer.status !== 401) {
        $('#leave-error').textContent = answer.data.detail;
        return;
      }
      window.location.assign('/login');
    }
    $('#signout').addEventListener('click', () => leave('/api/v1/logout'));
    $('#signout-all').addEventListener('click', () => leave('/api/v1/logout-all'));
  }

  // --- /recovery, /reset, /verify ----------------------------------------------------------
  function recovery() {
    onSubmit($('#recovery'), async (form) => {
      const answer = await api('POST', '/api/v1/recovery', { email: form.email.value.trim() });
      if (!answer.ok) return answer.data;
      form.hidden = true;
      say($('#done'), 'If that address belongs to an account, a mail with a link to choose a new password is on its way. The link works for an hour.');
      return null;
    });
  }

  const tokenOfPage = () => new URLSearchParams(window.location.search).get('token') || '';

  function reset() {
    const form = $('#reset');
    if (!tokenOfPage()) {
      form.hidden = true;
      say($('#missing'), 'This page needs the link from your mail. Ask for a new one if you have lost it.');
      return;
    }
    onSubmit(form, async () => {
      const answer = await api('POST', '/api/v1/recovery/complete', { token: tokenOfPage(), new_password: form.new_password.value });
      if (!answer.ok) return answer.data;
      form.hidden = true;
      say($('#done'), 'Your password is changed, and every session of your account has ended. Sign in with the new password.');
      $('#done-links').hidden = false;
      return null;
    });
  }

  function verify() {
    const form = $('#verify');
    if (!tokenOfPage()) {
      form.hidden = true;
      say($('#missing'), 'This page needs the link from your mail.');
      return;
    }
    onSubmit(form, async () => {
      const answer = await api('POST', '/api/v1/email/verify', { token: tokenOfPage() });
      if (!answer.ok) return answer.data;
      form.hidden = true;
      say($('#done'), 'Your address is confirmed.');
      $('#done-links').hidden = false;
      return null;
    });
  }

  const pages = { login, signup, account, recovery, reset, verify };
  const page = pages[document.body.dataset.page];
  if (page) page();
})();
