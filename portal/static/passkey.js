// passkey.js — the WebAuthn ceremonies of the tapwallet portal: adding a
// passkey, the passkey step of logging in, and confirming a wallet switched
// back on, and confirming a sensitive change (step-up). The only script of
// the portal; no framework. A form marked
// data-passkey="register|login|wallet-on|step-up" posts its fields as JSON
// to data-begin, gets the WebAuthn options (binary fields in base64url),
// asks the browser for the credential, and posts it to data-finish with
// the password fields (the password is checked after the passkey).
'use strict';
(function () {
  function toBuf(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), b = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    return b.buffer;
  }
  function toB64(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : '';
  }
  async function post(url, body) {
    var r = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
      body: JSON.stringify(body)
    });
    var j = {};
    try { j = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new Error((j.error && j.error.message) || (tr('tFailed', 'The portal could not do it') + ' (' + r.status + ')'));
    return j;
  }
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    pk.user.id = toBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }
  function credentialJSON(c) {
    var r = c.response, out = {
      id: c.id, rawId: toB64(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
    }
    return out;
  }
  // The page's language: the texts come from the catalogue, on <body>.
  function tr(key, fallback) {
    var d = document.body && document.body.dataset;
    return (d && d[key]) || fallback;
  }
  async function run(form) {
    var status = form.querySelector('.passkey-status');
    function say(t, bad) {
      if (!status) return;
      status.textContent = t;
      status.classList.toggle('bad', !!bad);
    }
    var fields = {};
    new FormData(form).forEach(function (v, k) { if (k !== 'csrf') fields[k] = String(v); });
    form.dataset.state = 'running';
    try {
      say(tr('tAsking', 'Asking the portal…'));
      var begin = await post(form.dataset.begin, fields);
      say(tr('tUse', 'Use your passkey: your fingerprint or your screen lock…'));
      var cred = form.dataset.passkey === 'register'
        ? await navigator.credentials.create(creationOptions(begin.options))
        : await navigator.credentials.get(requestOptions(begin.options));
      if (!cred) throw new Error(tr('tNone', 'No passkey was used.'));
      say(tr('tChecking', 'Checking…'));
      var fin = { ceremony: begin.ceremony || '', name: fields.name || '', credential: credentialJSON(cred) };
      if (fields.password) fin.password = fields.password;
      if (fields.new_password) fin.new_password = fields.new_password;
      var done = await post(form.dataset.finish, fin);
      say(tr('tDone', 'Done.'));
      form.dataset.state = 'done';
      window.location.assign(done.redirect || '/');
    } catch (e) {
      form.dataset.state = 'failed';
      say((e && e.name === 'NotAllowedError') ? tr('tCancelled', 'The passkey was not used.') : ((e && e.message) || String(e)), true);
    }
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('form[data-passkey]').forEach(function (form) {
      if (!window.PublicKeyCredential) {
        var s = form.querySelector('.passkey-status');
        if (s) s.textContent = tr('tUnsupported', 'This browser cannot use passkeys.');
        return;
      }
      form.addEventListener('submit', function (ev) { ev.preventDefault(); run(form); });
    });
  });
})();
