// localbox console: seeks the player, refreshes what is still processing,
// uploads through the upload API. Plain JavaScript, no build step, nothing
// from the network. Everything it shows comes from the server's escaped
// HTML or goes through textContent.
'use strict';

(() => {
  const REFRESH_MS = 2000;

  // The only HTML this script parses is a fragment the console rendered
  // (html/template escaped every value in it); the page's CSP admits no
  // other Trusted Types policy.
  const policy = window.trustedTypes
    ? window.trustedTypes.createPolicy('console', { createHTML: (html) => html })
    : { createHTML: (html) => html };

  const player = () => document.getElementById('player');

  // seek moves the player to t seconds, once it knows the media's length.
  function seek(t) {
    const p = player();
    if (!p || !Number.isFinite(t)) return;
    const go = () => { p.currentTime = t; };
    if (p.readyState >= 1) go(); else p.addEventListener('loadedmetadata', go, { once: true });
  }

  function markCurrent(el) {
    document.querySelectorAll('.transcript li.current').forEach((li) => li.classList.remove('current'));
    const li = el.closest('.transcript li');
    if (li) li.classList.add('current');
  }

  // Transcript lines and timeline segments carry data-start (seconds).
  function activate(e) {
    const el = e.target.closest ? e.target.closest('[data-start]') : null;
    if (!el || !player()) return;
    e.preventDefault();
    seek(Number(el.dataset.start));
    markCurrent(el);
  }
  document.addEventListener('click', activate);
  document.addEventListener('keydown', (e) => {
    if ((e.key === 'Enter' || e.key === ' ') && e.target.getAttribute && e.target.getAttribute('role') === 'button') activate(e);
  });

  // A page opened at a moment (?t=) starts there.
  const p = player();
  if (p && p.dataset.t !== undefined) seek(Number(p.dataset.t));

  // Elements with data-refresh="on" are fetched again from their
  // data-refresh-url and replaced, until the server says "off".
  const timers = new Map();
  function schedule(el, ms) {
    clearTimeout(timers.get(el.id));
    if (el.dataset.refresh === 'on') timers.set(el.id, setTimeout(() => refresh(el.id), ms));
  }
  async function refresh(id) {
    const cur = document.getElementById(id);
    if (!cur) return;
    let res;
    try {
      res = await fetch(cur.dataset.refreshUrl, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
    } catch (err) {
      schedule(cur, REFRESH_MS * 2);
      return;
    }
    if (res.status === 401) {
      location.assign('/app/login?next=' + encodeURIComponent(location.pathname + location.search));
      return;
    }
    if (!res.ok) {
      schedule(cur, REFRESH_MS * 2);
      return;
    }
    const doc = new DOMParser().parseFromString(policy.createHTML(await res.text()), 'text/html');
    const fresh = doc.getElementById(id);
    const now = document.getElementById(id);
    if (!fresh || !now) return;
    const adopted = document.adoptNode(fresh);
    now.replaceWith(adopted);
    schedule(adopted, REFRESH_MS);
  }
  document.querySelectorAll('[data-refresh-url]').forEach((el) => schedule(el, REFRESH_MS));

  // Uploads go to the upload API with the folder's upload token.
  const form = document.getElementById('upload');
  if (form) {
    const input = form.querySelector('input[type=file]');
    const status = document.getElementById('upload-status');
    const say = (msg, bad) => { status.textContent = msg; status.classList.toggle('error', !!bad); };

    const explain = async (res, name) => {
      let body = {};
      try { body = await res.json(); } catch (err) { /* not JSON */ }
      switch (res.status) {
        case 401: return 'The upload permission of this page has expired: reload the page.';
        case 409: return `${name}: an item with this name is already in this folder.`;
        case 413: return `${name}: the file is too large.`;
        default: return `${name}: the upload failed (${res.status}${body.message ? ': ' + body.message : ''}).`;
      }
    };

    async function upload(files) {
      const list = Array.from(files || []);
      if (list.length === 0) return;
      for (const f of list) {
        say(`Uploading ${f.name}…`);
        const body = new FormData();
        // Box wants the attributes part before the file part.
        body.append('attributes', JSON.stringify({ name: f.name, parent: { id: form.dataset.folderId } }));
        body.append('file', f, f.name);
        let res;
        try {
          res = await fetch(form.dataset.uploadUrl, {
            method: 'POST', body, credentials: 'omit',
            headers: { Authorization: 'Bearer ' + form.dataset.uploadToken },
          });
        } catch (err) {
          say(`${f.name}: the upload failed (no answer from localbox).`, true);
          continue;
        }
        if (res.status === 201) {
          say(`Uploaded ${f.name}.`);
        } else {
          say(await explain(res, f.name), true);
        }
        await refresh('items');
      }
    }

    input.addEventListener('change', () => { upload(input.files).finally(() => { input.value = ''; }); });
    form.addEventListener('submit', (e) => { e.preventDefault(); upload(input.files); });
    form.addEventListener('dragover', (e) => { e.preventDefault(); form.classList.add('over'); });
    form.addEventListener('dragleave', () => form.classList.remove('over'));
    form.addEventListener('drop', (e) => {
      e.preventDefault();
      form.classList.remove('over');
      upload(e.dataTransfer.files);
    });
  }
})();
