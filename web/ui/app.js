// Vexil admin UI: the views. Routes live in the URL's fragment
// (#/p/proj-1/flags), so /ui/ is the one page the gateway serves.
import { call, credential, setCredential, whenUnauthorized, follow, ApiError } from './api.js';
import { h, field, errors, mount } from './dom.js';
import { viewMembers } from './members.js';
import { viewChanges, showOutcome, protectToggle } from './changes.js';
import { newFlagVariants, variantsCard, servingControls } from './variants.js';
import { ruleForm, ruleItem } from './rules.js';
import { viewSegments, listSegments, prereqEditor } from './segments.js';

const PAGE = 50;

let signinMessage = '';
let projects = null; // cached list
let live = null; // {project, stop}
let refresh = null; // the current view's reload, called on each change event

whenUnauthorized((err) => {
  setCredential(null);
  stopLive();
  projects = null;
  signinMessage = `Signed out: ${err.message}. Sign in again.`;
  location.hash = '#/signin';
});

function setStatus(text) {
  const el = document.getElementById('live');
  el.textContent = text;
  delete el.dataset.reload;
}

// ---- live updates ----

// A reload a change notice asked for failed (err), or one succeeded
// (null): what the page shows stays, with a notice that it could not be
// refreshed and why, until the next reload succeeds or it is dismissed.
function reloadFailed(err) {
  const el = document.getElementById('live');
  if (!err) {
    if (el.dataset.reload) setStatus('');
    return;
  }
  el.dataset.reload = 'failed';
  el.replaceChildren(h('span', {}, `This page could not be refreshed: ${err.message}. `,
    'What it shows may be out of date; it is refreshed again at the next change.'), ' ',
  h('button', { type: 'button', onclick: () => setStatus('') }, 'Dismiss'));
}

// The current view's refresh, for a change notice. A view's refresh
// throws when a read fails (a 401 has already signed out), and returns
// nothing when it leaves the page alone (the Segments page during an edit),
// which keeps the notice.
async function liveReload(rev) {
  const fn = refresh;
  if (!fn) return;
  try {
    const reading = fn(true, rev);
    if (!reading) return;
    await reading;
    if (fn === refresh) reloadFailed(null);
  } catch (err) {
    if (fn === refresh && err.status !== 401) reloadFailed(err);
  }
}

function stopLive() {
  if (live) live.stop();
  live = null;
}

function followProject(p) {
  if (live && live.project === p.id) return;
  stopLive();
  if (!p.sdk_key) return;
  let timer = null;
  let latest = 0;
  const stop = follow(p.sdk_key, (rev) => {
    latest = Math.max(latest, rev);
    // Changes come in bursts: one reload for a burst.
    clearTimeout(timer);
    timer = setTimeout(() => liveReload(latest), 100);
  }, (up) => {
    document.body.dataset.live = up ? 'on' : 'off';
  });
  live = { project: p.id, stop };
}

// ---- shell ----

function renderWho() {
  const c = credential();
  const who = document.getElementById('who');
  if (!c) {
    who.replaceChildren();
    return;
  }
  who.replaceChildren(h('span', {}, c.kind === 'token' ? c.email : `API key ${c.value.slice(0, 8)}…`),
    h('button', { type: 'button', onclick: signOut }, 'Sign out'));
}

function signOut() {
  setCredential(null);
  stopLive();
  projects = null;
  signinMessage = 'Signed out.';
  location.hash = '#/signin';
}

function renderNav(pid, current) {
  const nav = document.getElementById('nav');
  if (!pid) {
    nav.replaceChildren();
    return;
  }
  const p = projects && projects.find((x) => x.id === pid);
  const link = (to, text, name) => h('a', { href: `#/p/${pid}/${to}`,
    'aria-current': current === name ? 'page' : null }, text);
  nav.replaceChildren(h('a', { href: '#/projects' }, p ? p.name : pid),
    link('flags', 'Flags', 'flags'), link('segments', 'Segments', 'segments'), link('playground', 'Playground', 'playground'),
    link('audit', 'Audit log', 'audit'), link('settings', 'Environments and keys', 'settings'),
    link('members', 'Members', 'members'), link('changes', 'Change requests', 'changes'));
}

async function loadProjects(force) {
  if (!projects || force) projects = (await call('GET', '/v1/projects')).projects;
  return projects;
}

async function project(pid) {
  let p = (await loadProjects()).find((x) => x.id === pid);
  if (!p) p = (await loadProjects(true)).find((x) => x.id === pid);
  if (!p) throw new ApiError(404, `Project ${pid} not found`, null);
  followProject(p);
  return p;
}

async function environments(pid) {
  return (await call('GET', '/v1/environments', { query: { project_id: pid } })).environments;
}

function fail(err) {
  mount(h('div', { class: 'card' }, h('h1', {}, 'Something went wrong'),
    h('p', { class: 'err', role: 'alert' }, err.message)));
}

// ---- sign-in ----

function viewSignin() {
  const tabs = ['Email and password', 'Create account', 'API key'];
  let mode = 0;
  const email = field('Email', h('input', { type: 'email', autocomplete: 'username', required: true }), 'email');
  const password = field('Password', h('input', { type: 'password', autocomplete: 'current-password', required: true }), 'password');
  const key = field('API key', h('input', { type: 'password', autocomplete: 'off', required: true }), 'key');
  const general = h('p', { class: 'err', role: 'alert' });
  const errs = errors({ email, password, key }, general);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const tabBar = h('div', { class: 'tabs', role: 'tablist' });
  const body = h('div', {});
  function draw() {
    tabBar.replaceChildren(...tabs.map((t, i) => h('button', {
      type: 'button', role: 'tab', 'aria-selected': String(i === mode),
      onclick: () => { mode = i; errs.clear(); draw(); },
    }, t)));
    body.replaceChildren(...(mode === 2 ? [key.wrap] : [email.wrap, password.wrap]));
    submit.textContent = mode === 1 ? 'Create account and sign in' : 'Sign in';
  }
  draw();
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-h', onsubmit: async (e) => {
    e.preventDefault();
    errs.clear();
    submit.disabled = true;
    try {
      if (mode === 2) {
        setCredential({ kind: 'apikey', value: key.input.value.trim() });
        await loadProjects(true);
      } else {
        const body = { email: email.input.value.trim(), password: password.input.value };
        if (mode === 1) await call('POST', '/auth/register', { body, auth: false });
        const t = await call('POST', '/auth/login', { body, auth: false });
        // Who "user:<id>" in the audit log is: the flag-service API's ids
        // are UUIDs that carry the number (docs/gateway.md, "Ids").
        let actor = null;
        try {
          const me = await call('GET', '/api/me', { authorization: `Bearer ${t.token}` });
          const hex = me.user_id.replace(/-/g, '');
          actor = `user:${parseInt(hex.slice(8, 12), 16) * 2 ** 48 + parseInt(hex.slice(20), 16)}`;
        } catch (e) {
          // Only the audit log's "you" depends on it.
        }
        setCredential({ kind: 'token', value: t.token, email: body.email, actor });
      }
      signinMessage = '';
      location.hash = '#/projects';
    } catch (err) {
      setCredential(null);
      // The flag-service API names no field: put it where it belongs.
      if (!err.field && mode !== 2 && /password/i.test(err.message)) err.field = 'password';
      else if (!err.field && mode !== 2 && /email|user/i.test(err.message)) err.field = 'email';
      else if (!err.field && mode === 2) err.field = 'key';
      errs.show(err);
    } finally {
      submit.disabled = false;
    }
  } }, h('h1', { id: 'signin-h' }, 'Sign in to Vexil'),
  signinMessage ? h('p', { class: 'warn', role: 'status' }, signinMessage) : null,
  tabBar, body, general, h('p', {}, submit),
  h('p', { class: 'note' }, 'The credential stays in this tab only (no cookie) until you sign out.'));
  mount(form);
  (mode === 2 ? key : email).input.focus();
}

// ---- projects ----

async function viewProjects() {
  renderNav(null);
  const list = await loadProjects(true);
  const name = field('Name', h('input', { required: true }), 'name');
  const desc = field('Description', h('input', {}), 'description');
  const general = h('p', { class: 'err', role: 'alert' });
  const errs = errors({ name, description: desc }, general);
  const form = h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const p = await call('POST', '/v1/projects', { body: { name: name.input.value.trim(), description: desc.input.value } });
      projects = null;
      location.hash = `#/p/${p.id}/flags`;
    } catch (err) {
      errs.show(err);
    }
  } }, h('h2', {}, 'New project'), h('div', { class: 'row' }, name.wrap, desc.wrap,
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Create project'))), general);
  mount(h('div', {}, h('h1', {}, 'Projects'),
    list.length ? h('ul', { class: 'projects' }, list.map((p) => h('li', {},
      h('a', { href: `#/p/${p.id}/flags` }, p.name), ' ',
      p.description ? h('span', { class: 'note' }, p.description) : null)))
      : h('p', {}, 'No projects yet.'), form));
}

// ---- flags ----

const listState = { q: '', env: '', offset: 0 };

async function viewFlags(pid) {
  const p = await project(pid);
  renderNav(pid, 'flags');
  const envs = await environments(pid);
  if (!envs.find((e) => e.key === listState.env))
    listState.env = (envs.find((e) => e.key === 'production') || envs[0] || {}).key || '';
  const search = field('Search by key, name or tag', h('input', { type: 'search', value: listState.q, placeholder: 'checkout' }), 'q');
  const envSel = field('Environment', h('select', {}, envs.map((e) => h('option', { value: e.key, selected: e.key === listState.env }, e.name || e.key))), 'environment');
  envSel.input.value = listState.env;
  const table = h('tbody', {});
  const pager = h('div', { class: 'pager' });
  const status = h('p', { class: 'err', role: 'alert' });
  let timer = null;

  // live: a change notice's reload, which throws when the read fails.
  async function load(live) {
    let page;
    try {
      page = await call('GET', '/v1/flags', { query: { project_id: pid, limit: PAGE, offset: listState.offset, q: listState.q } });
    } catch (err) {
      if (live) throw err;
      status.textContent = err.message;
      return;
    }
    if (page.flags.length === 0 && listState.offset > 0 && page.total > 0) {
      listState.offset = Math.floor((page.total - 1) / PAGE) * PAGE;
      return load(live);
    }
    status.textContent = '';
    table.replaceChildren(...page.flags.map((f) => flagRow(f)));
    if (!page.flags.length)
      table.append(h('tr', {}, h('td', { colspan: 5 }, listState.q ? 'No flag matches.' : 'No flags yet.')));
    const from = page.total ? listState.offset + 1 : 0, to = listState.offset + page.flags.length;
    pager.replaceChildren(
      h('button', { type: 'button', disabled: listState.offset === 0, onclick: () => { listState.offset = Math.max(0, listState.offset - PAGE); load(); } }, 'Previous'),
      h('span', { 'aria-live': 'polite' }, `${from}–${to} of ${page.total}`),
      h('button', { type: 'button', disabled: to >= page.total, onclick: () => { listState.offset += PAGE; load(); } }, 'Next'));
  }

  function flagRow(f) {
    const on = !!f.state[listState.env];
    const box = h('input', { type: 'checkbox', checked: on, 'aria-label': `${f.key} on in ${listState.env}` });
    const err = h('span', { class: 'err' });
    box.addEventListener('change', async () => {
      box.disabled = true;
      try {
        await call('PATCH', `/v1/flags/${f.id}/state`, { query: { project_id: pid }, body: { environment: listState.env, enabled: box.checked } });
        err.textContent = '';
      } catch (e) {
        box.checked = !box.checked;
        showOutcome(err, e, pid);
      }
      box.disabled = false;
    });
    return h('tr', { 'data-flag': f.key },
      h('td', { class: 'key' }, h('a', { href: `#/p/${pid}/flags/${f.id}` }, f.key)),
      h('td', {}, f.name, f.type && f.type !== 'boolean' ? [' ', h('span', { class: 'tag', title: 'type' }, f.type)] : null),
      h('td', { class: 'desc' }, f.description),
      h('td', { class: 'tags' }, f.tags.map((t) => h('span', { class: 'tag' }, t))),
      h('td', {}, h('label', { class: 'switch' }, box, h('span', { class: on ? 'state-on' : 'state-off' }, on ? 'On' : 'Off')), err));
  }

  search.input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { listState.q = search.input.value.trim(); listState.offset = 0; load(); }, 200);
  });
  envSel.input.addEventListener('change', () => { listState.env = envSel.input.value; load(); });
  refresh = () => load(true);

  mount(h('div', {}, h('h1', {}, `Flags of ${p.name}`),
    h('div', { class: 'row' }, search.wrap, envSel.wrap,
      h('div', {}, h('a', { href: `#/p/${pid}/new-flag`, class: 'button' }, 'New flag'))),
    status,
    h('table', { class: 'flags' }, h('caption', { class: 'note' }, `State in the environment chosen above; changes made anywhere appear here live.`),
      h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Name'), h('th', { class: 'desc' }, 'Description'),
        h('th', { class: 'tags' }, 'Tags'), h('th', {}, 'State'))), table),
    pager));
  await load();
}

function tagsOf(text) {
  return text.split(',').map((t) => t.trim()).filter(Boolean);
}

async function viewNewFlag(pid) {
  const p = await project(pid);
  renderNav(pid, 'flags');
  const key = field('Key', h('input', { required: true, autocomplete: 'off' }), 'key');
  const name = field('Name', h('input', {}), 'name');
  const desc = field('Description', h('textarea', { rows: 2 }), 'description');
  const tags = field('Tags (comma-separated)', h('input', {}), 'tags');
  const general = h('p', { class: 'err', role: 'alert' });
  const errs = errors({ key, name, description: desc, tags }, general);
  const typed = newFlagVariants();
  mount(h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const f = await call('POST', '/v1/flags', { body: { project_id: pid, key: key.input.value.trim(),
        name: name.input.value.trim() || undefined, description: desc.input.value, tags: tagsOf(tags.input.value), ...typed.body() } });
      location.hash = `#/p/${pid}/flags/${f.id}`;
    } catch (err) {
      if (!typed.show(err)) errs.show(err);
    }
  } }, h('h1', {}, `New flag in ${p.name}`),
  h('p', { class: 'note' }, 'A boolean flag has the variants on and off; the other types list theirs. A new flag is off in every environment.'),
  key.wrap, name.wrap, desc.wrap, tags.wrap, typed.el, general,
  h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Create flag'), ' ', h('a', { href: `#/p/${pid}/flags` }, 'Cancel'))));
  key.input.focus();
}

async function viewFlag(pid, fid) {
  await project(pid);
  renderNav(pid, 'flags');
  // The project's revision read before the flag: saves send it as
  // if_revision, so a change made since is refused rather than overwritten.
  let rev = (await loadProjects(true)).find((x) => x.id === pid).revision;
  let flag = await call('GET', `/v1/flags/${fid}`, { query: { project_id: pid } });
  const envs = await environments(pid);
  const name = field('Name', h('input', { value: flag.name }), 'name');
  const desc = field('Description', h('textarea', { rows: 2, value: flag.description }), 'description');
  const tags = field('Tags (comma-separated)', h('input', { value: flag.tags.join(', ') }), 'tags');
  const general = h('p', { class: 'err', role: 'alert' });
  const errs = errors({ name, description: desc, tags }, general);
  const stale = h('div', { role: 'alert' });
  // What the form was filled from: a change of these underneath an edit is
  // what the person must be told about (updated_at is to the second only).
  const fields = (f) => JSON.stringify([f.name, f.description, f.tags]);
  let dirty = false, seen = fields(flag);
  for (const f of [name, desc, tags]) f.input.addEventListener('input', () => { dirty = true; });
  const envBox = h('div', {});
  const variants = variantsCard(pid, fid, () => reload());
  let segments = await listSegments(pid);
  const statsBox = h('div', {});
  const auditBox = h('div', {});

  // One card per environment, made once: a live update redraws its state
  // and rules, never the rule being typed into its form.
  const cards = envs.map((e) => envCard(e));
  envBox.replaceChildren(...cards.map((c) => c.el));
  function drawEnvs() {
    variants.draw(flag);
    for (const c of cards) c.draw();
  }

  function envCard(e) {
    const box = h('input', { type: 'checkbox', 'aria-label': `On in ${e.key}` });
    const label = h('span', {});
    const stateErr = h('p', { class: 'err', role: 'alert' });
    const rulesBox = h('div', {});
    // While a switch is being saved, a live redraw (another change that
    // arrives meanwhile) leaves it as the person set it.
    let saving = false;
    box.addEventListener('change', async () => {
      stateErr.textContent = '';
      saving = true;
      try {
        await call('PATCH', `/v1/flags/${fid}/state`, { query: { project_id: pid }, body: { environment: e.key, enabled: box.checked } });
        saving = false;
        await reload();
      } catch (err) {
        saving = false;
        box.checked = !box.checked;
        showOutcome(stateErr, err, pid);
      }
    });
    // The environment's rollout: the share of users no rule matches that
    // get the flag.
    const pct = field('Rollout % (users no rule matches)', h('input', { type: 'number', min: 0, max: 100, class: 'pct' }), 'rollout_percentage');
    const pctErrs = errors({ rollout_percentage: pct }, stateErr);
    pct.input.addEventListener('change', async () => {
      try {
        await call('PATCH', `/v1/flags/${fid}/state`, { query: { project_id: pid },
          body: { environment: e.key, rollout_percentage: Number(pct.input.value) } });
        pctErrs.clear();
        await reload();
      } catch (err) {
        pctErrs.show(err);
      }
    });
    const form = ruleForm({ pid, fid, env: e.key, reload });
    const serving = servingControls(pid, fid, e.key, reload, (m) => { stateErr.textContent = m; });
    const prereqs = prereqEditor(pid, fid, e.key, reload);
    // One PATCH of one rule: a new priority (to move it past a neighbour)
    // or a new rollout.
    async function patchRule(r, body) {
      try {
        await call('PATCH', `/v1/flags/${fid}/rules/${r.id}`, { query: { project_id: pid }, body });
        stateErr.textContent = '';
        await reload();
      } catch (err) {
        stateErr.textContent = err.message;
      }
    }

    const removeRule = async (r) => {
      try {
        await call('DELETE', `/v1/flags/${fid}/rules/${r.id}`, { query: { project_id: pid } });
        await reload();
      } catch (err) {
        stateErr.textContent = err.message;
      }
    };
    function draw() {
      const on = !!flag.state[e.key];
      const rules = (flag.rules || []).filter((r) => r.environment === e.key);
      if (!saving) box.checked = on;
      label.className = on ? 'state-on' : 'state-off';
      label.textContent = on ? 'On' : 'Off';
      if (document.activeElement !== pct.input) pct.input.value = flag.rollout ? flag.rollout[e.key] : 100;
      const dv = (flag.default_variant || {})[e.key];
      rulesBox.replaceChildren(rules.length ? h('div', {}, h('p', { class: 'note' }, `Serves what the first matching rule serves, ${dv} to the rest; rules are tried in this order.`),
        h('ol', { class: 'rules' }, rules.map((r, i) => ruleItem(r, i, rules, { flag, patch: patchRule, remove: removeRule, edit: (x) => form.edit(x) }))))
        : h('p', { class: 'note' }, on ? `No rules: serves ${dv} to everyone in the rollout.` : 'No rules.'));
      serving.draw(flag);
      form.draw(flag, segments);
      prereqs.draw(flag);
    }
    const el = h('section', { class: 'card', 'data-env': e.key, 'aria-label': `Environment ${e.key}` },
      h('h2', {}, e.name || e.key, ' ', h('label', { class: 'switch' }, box, label)),
      stateErr, h('div', { class: 'row' }, pct.wrap, serving.el), rulesBox, form.el, prereqs.el);
    return { el, draw };
  }

  let drawn = ''; // the flag and segments last drawn, as JSON
  async function reload(fromStream, eventRev) {
    let f;
    try {
      f = await call('GET', `/v1/flags/${fid}`, { query: { project_id: pid } });
    } catch (err) {
      if (err.status === 404 && err.field !== 'project_id') {
        stale.replaceChildren(h('p', { class: 'warn' }, 'This flag was deleted.'));
        return;
      }
      if (fromStream) throw err;
      return;
    }
    if (fromStream && dirty && fields(f) !== seen) {
      stale.replaceChildren(h('p', { class: 'warn' }, 'This flag was changed by someone else while you were editing. ',
        h('button', { type: 'button', onclick: () => { dirty = false; viewFlag(pid, fid); } }, 'Reload it'),
        ' or save to overwrite the name, description and tags.'));
    }
    // The form's edits stay based on what was read before, unless nothing
    // it shows changed.
    if (!dirty || fields(f) === seen) rev = Math.max(rev, eventRev || 0);
    flag = f;
    if (!dirty) seen = fields(f);
    let segErr = null;
    try {
      segments = await listSegments(pid);
    } catch (err) {
      // The rule form offers the segments last read.
      segErr = err;
    }
    // A change notice for what is already drawn (this page's own write,
    // or a change to another flag) redraws nothing: a redraw would replace
    // the buttons under the pointer and a rule form being filled in.
    const shown = JSON.stringify([f, segments]);
    if (!fromStream || shown !== drawn) {
      drawn = shown;
      drawEnvs();
      loadAudit();
    }
    if (segErr && fromStream) throw segErr;
  }

  async function loadStats(period) {
    try {
      const s = await call('GET', `/v1/analytics/flags/${fid}/stats`, { query: { project_id: pid, period } });
      const ev = await call('GET', '/v1/analytics/evaluations', { query: { project_id: pid, flag_id: fid, limit: 1000 } });
      statsBox.replaceChildren(chart(s, period), recentEvaluations(ev.evaluations.slice(0, 20)));
    } catch (err) {
      statsBox.replaceChildren(h('p', { class: 'err' }, err.message));
    }
  }

  async function loadAudit() {
    try {
      const a = await call('GET', '/v1/audit', { query: { project_id: pid, target: flag.key, limit: 1000 } });
      auditBox.replaceChildren(auditList(a.entries.slice(0, 20)));
    } catch (err) {
      auditBox.replaceChildren(h('p', { class: 'err' }, err.message));
    }
  }

  const del = h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (del.dataset.armed !== 'yes') {
      del.dataset.armed = 'yes';
      del.textContent = `Really delete ${flag.key}?`;
      return;
    }
    try {
      await call('DELETE', `/v1/flags/${fid}`, { query: { project_id: pid } });
      location.hash = `#/p/${pid}/flags`;
    } catch (err) {
      showOutcome(general, err, pid);
    }
  } }, 'Delete flag');

  refresh = (fromStream, eventRev) => reload(fromStream, eventRev);
  const periodSel = field('Period', h('select', {}, h('option', { value: '7d' }, 'Last 7 days'), h('option', { value: '30d' }, 'Last 30 days')), 'period');
  periodSel.input.addEventListener('change', () => loadStats(periodSel.input.value));
  mount(h('div', {}, h('p', {}, h('a', { href: `#/p/${pid}/flags` }, '← All flags')),
    h('h1', {}, 'Flag ', h('code', {}, flag.key)), stale,
    h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      try {
        flag = await call('PUT', `/v1/flags/${fid}`, { query: { project_id: pid, if_revision: rev }, body: {
          name: name.input.value, description: desc.input.value, tags: tagsOf(tags.input.value) } });
        rev = (await loadProjects(true)).find((x) => x.id === pid).revision;
        dirty = false;
        seen = fields(flag);
        stale.replaceChildren();
        errs.clear();
        general.textContent = 'Saved.';
      } catch (err) {
        if (err.field === 'if_revision') {
          errs.clear();
          general.textContent = 'Not saved: the project changed since this flag was read. Reload it, then save again.';
          stale.replaceChildren(h('p', { class: 'warn' }, 'This flag may have changed since you opened it. ',
            h('button', { type: 'button', onclick: () => { dirty = false; viewFlag(pid, fid); } }, 'Reload it')));
        } else {
          errs.show(err);
        }
      }
    } }, h('h2', {}, 'Details'), name.wrap, desc.wrap, tags.wrap, general,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), del)),
    variants.el,
    h('h2', {}, 'Environments'), envBox,
    h('section', { class: 'card' }, h('h2', {}, 'Evaluations'), periodSel.wrap, statsBox),
    h('section', { class: 'card' }, h('h2', {}, 'Recent changes'), auditBox)));
  drawn = JSON.stringify([flag, segments]);
  drawEnvs();
  loadStats('7d');
  loadAudit();
}

// An SVG bar chart of evaluations per day, each bar stacked by variant.
const SHADES = ['#0b5cad', '#f59e0b', '#1a7f37', '#8250df', '#b42318', '#57606a'];

function chart(s, period) {
  const days = Object.keys(s.exposures.breakdown);
  const variants = Object.keys(s.exposures.by_variant || {});
  const max = Math.max(1, ...Object.values(s.exposures.breakdown));
  const W = 720, H = 160, bw = W / Math.max(1, days.length);
  const bars = days.map((day, i) => {
    let y = H;
    const parts = variants.map((v, k) => {
      const n = s.exposures.by_variant[v][day] || 0;
      const bh = (n / max) * H;
      y -= bh;
      return n ? h('rect', { x: i * bw + 1, y, width: Math.max(1, bw - 2), height: bh, fill: SHADES[k % SHADES.length] },
        h('title', {}, `${day}: ${n} × ${v}`)) : null;
    });
    return h('g', {}, parts, days.length <= 8 || i % 5 === 0 ? h('text', { x: i * bw + 2, y: H + 14 }, day.slice(5)) : null);
  });
  return h('figure', {},
    h('svg', { class: 'chart', viewBox: `0 0 ${W} ${H + 20}`, role: 'img', 'aria-label': `Evaluations per day, ${period}: ${s.exposures.total} in all` }, bars),
    h('figcaption', { class: 'note' }, `${s.exposures.total} evaluations in the period, every environment. `,
      variants.map((v, k) => h('span', { class: 'legend' }, h('span', { class: `swatch s${k % SHADES.length}` }), ` ${v}: `,
        Object.values(s.exposures.by_variant[v]).reduce((a, b) => a + b, 0), ' '))));
}

function recentEvaluations(list) {
  if (!list.length) return h('p', { class: 'note' }, 'No recent evaluations.');
  return h('table', { class: 'evals' }, h('caption', { class: 'note' }, 'Recent evaluations, newest first'),
    h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Environment'), h('th', {}, 'User'), h('th', {}, 'Variant'), h('th', {}, 'Reason'))),
    h('tbody', {}, list.map((e) => h('tr', {}, h('td', {}, e.time.replace('T', ' ').replace('Z', ' UTC')),
      h('td', {}, e.environment), h('td', { class: 'key' }, e.user_id || '—'), h('td', {}, e.variant), h('td', {}, e.reason)))));
}

// ---- audit ----

const VERBS = {
  PROJECT_CREATED: 'created the project', PROJECT_UPDATED: 'changed the project', PROJECT_DELETED: 'deleted the project',
  ENVIRONMENT_CREATED: 'created environment', ENVIRONMENT_UPDATED: 'changed environment', ENVIRONMENT_DELETED: 'deleted environment',
  FLAG_CREATED: 'created flag', FLAG_UPDATED: 'changed flag', FLAG_DELETED: 'deleted flag', FLAG_TOGGLED: 'switched flag',
  RULE_CREATED: 'added a rule to', RULE_UPDATED: 'changed a rule of', RULE_DELETED: 'deleted a rule of',
  KEY_CREATED: 'created key', KEY_REVOKED: 'revoked key',
  SEGMENT_CREATED: 'created segment', SEGMENT_UPDATED: 'changed segment', SEGMENT_DELETED: 'deleted segment',
};

// Actors read "apikey:<id>" or "user:<id> (<email>)" (the email when
// the change was made).
function actorName(actor) {
  const c = credential();
  const mine = c && c.actor && (actor === c.actor || actor.startsWith(`${c.actor} (`));
  return mine ? `you (${c.email})` : actor;
}

// "field: old → new", the core's words for one change, as a readable diff.
function diffLine(line) {
  const colon = line.indexOf(': '), arrow = line.indexOf(' → ', colon);
  if (colon < 0 || arrow < 0) return h('li', {}, line);
  return h('li', {}, h('span', { class: 'field' }, line.slice(0, colon)), ': ',
    h('del', {}, line.slice(colon + 2, arrow) || '(empty)'), ' → ', h('ins', {}, line.slice(arrow + 3) || '(empty)'));
}

function auditList(entries) {
  if (!entries.length) return h('p', {}, 'No changes recorded.');
  return h('table', { class: 'audit' }, h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Who'), h('th', {}, 'What'), h('th', {}, 'Call'))),
    h('tbody', {}, entries.map((a) => h('tr', {},
      h('td', {}, h('time', { datetime: a.time }, a.time.replace('T', ' ').replace('Z', ' UTC'))),
      h('td', {}, actorName(a.actor)),
      h('td', {}, `${VERBS[a.kind] || a.kind} `, h('code', {}, a.target), ` (revision ${a.revision})`,
        a.detail ? h('ul', { class: 'diff' }, a.detail.split('\n').map(diffLine)) : null),
      h('td', { class: 'key' }, a.method)))));
}

async function viewAudit(pid) {
  const p = await project(pid);
  renderNav(pid, 'audit');
  const box = h('div', {});
  const target = field('Only changes of (flag key)', h('input', { type: 'search' }), 'target');
  async function load(live) {
    try {
      const a = await call('GET', '/v1/audit', { query: { project_id: pid, limit: 200, target: target.input.value.trim() } });
      box.replaceChildren(auditList(a.entries));
    } catch (err) {
      if (live === true) throw err;
      target.error.textContent = err.message;
    }
  }
  target.input.addEventListener('change', () => load());
  refresh = () => load(true);
  mount(h('div', {}, h('h1', {}, `Audit log of ${p.name}`), h('p', { class: 'note' }, 'Newest first.'), target.wrap, box));
  await load();
}

// ---- playground ----

async function viewPlayground(pid) {
  const p = await project(pid);
  renderNav(pid, 'playground');
  const envs = await environments(pid);
  const env = field('Environment', h('select', {}, envs.map((e) => h('option', { value: e.key }, e.name || e.key))), 'environment');
  env.input.value = (envs.find((e) => e.key === 'production') || envs[0] || {}).key || '';
  const user = field('User id (targetingKey)', h('input', { value: 'user-1' }), 'targetingKey');
  const email = field('Email', h('input', { type: 'email' }), 'email');
  const extra = field('Other attributes (JSON object)', h('textarea', { rows: 3, placeholder: '{"country": "NZ", "plan": "pro"}' }), 'context');
  const general = h('p', { class: 'err', role: 'alert' });
  const errs = errors({ environment: env, targetingKey: user, email, context: extra }, general);
  const out = h('tbody', {});
  async function run(live) {
    errs.clear();
    let ctx = {};
    try {
      if (extra.input.value.trim()) ctx = JSON.parse(extra.input.value);
      if (typeof ctx !== 'object' || Array.isArray(ctx) || ctx === null) throw new Error('not an object');
    } catch (e) {
      errs.show(new ApiError(400, 'Attributes must be a JSON object', 'context'));
      return;
    }
    if (user.input.value.trim()) ctx.targetingKey = user.input.value.trim();
    if (email.input.value.trim()) ctx.email = email.input.value.trim();
    ctx.environment = env.input.value;
    try {
      const r = await call('POST', '/ofrep/v1/evaluate/flags', { body: { context: ctx }, authorization: `Bearer ${p.sdk_key}` });
      out.replaceChildren(...r.flags.map((f) => h('tr', { 'data-flag': f.key }, h('td', { class: 'key' }, f.key),
        h('td', { class: 'key' }, JSON.stringify(f.value)), h('td', {}, f.variant || ''), h('td', {}, f.reason || f.errorCode || ''))));
    } catch (err) {
      if (live === true) throw err;
      errs.show(err);
    }
  }
  refresh = () => run(true);
  mount(h('div', {}, h('h1', {}, `Evaluation playground: ${p.name}`),
    h('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); run(); } },
      h('div', { class: 'row' }, env.wrap, user.wrap, email.wrap), extra.wrap, general,
      h('button', { type: 'submit', class: 'primary' }, 'Evaluate')),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Flag'), h('th', {}, 'Value'), h('th', {}, 'Variant'), h('th', {}, 'Reason'))), out)));
  await run();
}

// ---- environments and keys ----

function copyButton(text) {
  const b = h('button', { type: 'button', onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch (e) {
      b.textContent = 'Select and copy it by hand';
    }
  } }, 'Copy');
  return b;
}

async function viewSettings(pid) {
  const p = await project(pid);
  renderNav(pid, 'settings');
  const envBox = h('tbody', {});
  const keyBox = h('tbody', {});
  const sdkBox = h('tbody', {});
  const sdkErr = h('p', { class: 'err', role: 'alert' });
  const sdkShown = h('div', { 'aria-live': 'polite' });
  const envErr = h('p', { class: 'err', role: 'alert' });
  const keyErr = h('p', { class: 'err', role: 'alert' });
  const shown = h('div', { 'aria-live': 'polite' });

  // live: a change notice's reload, which throws the first read that
  // failed (the lines under each table are for this page's own actions).
  async function load(live) {
    let failed = null;
    const failedRead = (line, err) => {
      if (live === true) failed = failed || err;
      else line.textContent = err.message;
    };
    try {
      const envs = await environments(pid);
      if (sdkEnv.input.options.length !== envs.length + 1)
        sdkEnv.input.replaceChildren(h('option', { value: '' }, 'any environment'), ...envs.map((e) => h('option', { value: e.key }, e.key)));
      envBox.replaceChildren(...envs.map((e) => h('tr', {}, h('td', { class: 'key' }, e.key), h('td', {}, e.name),
        h('td', {}, protectToggle(pid, e, envErr, load)),
        h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Delete environment ${e.key}`, onclick: async () => {
          try {
            await call('DELETE', `/v1/environments/${e.id}`, { query: { project_id: pid } });
            load();
          } catch (err) {
            envErr.textContent = err.message;
          }
        } }, 'Delete')))));
    } catch (err) {
      failedRead(envErr, err);
    }
    try {
      const keys = (await call('GET', '/v1/sdk-keys', { query: { project_id: pid } })).sdk_keys;
      sdkBox.replaceChildren(...keys.map((k) => h('tr', {}, h('td', { class: 'key' }, `${k.prefix}…`),
        h('td', {}, k.environment || 'any'), h('td', {}, k.created_at.slice(0, 10)),
        // The primary key is the project's own (this page follows changes
        // with it): it is replaced, not revoked (the flag-service API's
        // regenerate-key).
        h('td', {}, p.sdk_key && p.sdk_key.startsWith(k.prefix) ? h('span', { class: 'note' }, 'primary') : h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke SDK key ${k.prefix}`, onclick: async () => {
          try {
            await call('DELETE', `/v1/sdk-keys/${k.id}`, { query: { project_id: pid } });
            load();
          } catch (err) {
            sdkErr.textContent = err.message;
          }
        } }, 'Revoke')))));
    } catch (err) {
      failedRead(sdkErr, err);
    }
    try {
      const keys = (await call('GET', '/v1/api-keys', { query: { project_id: pid } })).api_keys;
      keyBox.replaceChildren(...keys.map((k) => h('tr', {}, h('td', {}, k.name), h('td', {}, k.role), h('td', { class: 'key' }, k.prefix || k.id),
        h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke key ${k.name}`, onclick: async () => {
          try {
            await call('DELETE', `/v1/api-keys/${k.id}`);
            load();
          } catch (err) {
            keyErr.textContent = err.message;
          }
        } }, 'Revoke')))));
    } catch (err) {
      failedRead(keyErr, err);
    }
    if (failed) throw failed;
  }

  const ek = field('Key', h('input', { required: true }), 'key');
  const en = field('Name', h('input', {}), 'name');
  const envErrs = errors({ key: ek, name: en }, envErr);
  const sdkEnv = field('Environment', h('select', {}), 'environment');
  const sdkErrs = errors({ environment: sdkEnv }, sdkErr);
  const kn = field('Name', h('input', { required: true }), 'name');
  const kr = field('Role', h('select', {}, ['read', 'write', 'admin'].map((r) => h('option', { value: r }, r))), 'role');
  const keyErrs = errors({ name: kn, role: kr }, keyErr);
  refresh = () => load(true);
  mount(h('div', {}, h('h1', {}, `Environments and keys of ${p.name}`),
    h('section', { class: 'card' }, h('h2', {}, 'Environments'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Name'), h('th', {}, 'Changes'), h('th', {}, ''))), envBox),
      h('form', { onsubmit: async (e) => {
        e.preventDefault();
        try {
          await call('POST', '/v1/environments', { body: { project_id: pid, key: ek.input.value.trim(), name: en.input.value.trim() || undefined } });
          envErrs.clear();
          ek.input.value = en.input.value = '';
          load();
        } catch (err) {
          envErrs.show(err);
        }
      } }, h('div', { class: 'row' }, ek.wrap, en.wrap, h('div', {}, h('button', { type: 'submit' }, 'Add environment'))), envErr)),
    h('section', { class: 'card' }, h('h2', {}, 'SDK keys'),
      h('p', { class: 'note' }, 'For OpenFeature SDKs (OFREP), /sdk/v1 and libvexil. The primary key evaluates every environment:'),
      h('p', {}, h('span', { class: 'secret' }, p.sdk_key || '(hidden)'), ' ', p.sdk_key ? copyButton(p.sdk_key) : null),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Environment'), h('th', {}, 'Created'), h('th', {}, ''))), sdkBox),
      h('form', { onsubmit: async (e) => {
        e.preventDefault();
        try {
          const k = await call('POST', '/v1/sdk-keys', { body: { project_id: pid, environment: sdkEnv.input.value || undefined } });
          sdkErrs.clear();
          sdkShown.replaceChildren(h('div', { class: 'warn' }, h('p', {}, `The new SDK key (${k.environment || 'any environment'}), shown this once:`),
            h('p', {}, h('span', { class: 'secret', 'data-sdk-secret': '' }, k.key), ' ', copyButton(k.key))));
          load();
        } catch (err) {
          sdkErrs.show(err);
        }
      } }, h('div', { class: 'row' }, sdkEnv.wrap, h('div', {}, h('button', { type: 'submit' }, 'Create SDK key'))), sdkErr),
      sdkShown),
    h('section', { class: 'card' }, h('h2', {}, 'API keys'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Role'), h('th', {}, 'Id'), h('th', {}, ''))), keyBox),
      h('form', { onsubmit: async (e) => {
        e.preventDefault();
        try {
          const k = await call('POST', '/v1/api-keys', { body: { project_id: pid, name: kn.input.value.trim(), role: kr.input.value } });
          keyErrs.clear();
          kn.input.value = '';
          shown.replaceChildren(h('div', { class: 'warn' }, h('p', {}, `The secret of ${k.name}, shown this once:`),
            h('p', {}, h('span', { class: 'secret', 'data-secret': '' }, k.key), ' ', copyButton(k.key))));
          load();
        } catch (err) {
          keyErrs.show(err);
        }
      } }, h('div', { class: 'row' }, kn.wrap, kr.wrap, h('div', {}, h('button', { type: 'submit' }, 'Create API key'))), keyErr),
      shown)));
  await load();
}

// ---- routing ----

// What the pages in other modules (members.js, changes.js) use of this one.
const shell = { project, renderNav, setRefresh: (fn) => { refresh = fn; } };

async function route() {
  refresh = null;
  setStatus('');
  renderWho();
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (!credential()) {
    renderNav(null);
    viewSignin();
    return;
  }
  try {
    if (parts[0] === 'p' && parts[1]) {
      const pid = parts[1];
      if (parts[2] === 'flags' && parts[3]) await viewFlag(pid, parts[3]);
      else if (parts[2] === 'new-flag') await viewNewFlag(pid);
      else if (parts[2] === 'audit') await viewAudit(pid);
      else if (parts[2] === 'segments') {
        const p = await project(pid);
        renderNav(pid, 'segments');
        refresh = await viewSegments(p, document.getElementById('main'));
      }
      else if (parts[2] === 'playground') await viewPlayground(pid);
      else if (parts[2] === 'settings') await viewSettings(pid);
      else if (parts[2] === 'members') await viewMembers(shell, pid);
      else if (parts[2] === 'changes') await viewChanges(shell, pid);
      else await viewFlags(pid);
    } else if (parts[0] === 'signin') {
      location.hash = '#/projects';
    } else {
      stopLive();
      await viewProjects();
    }
  } catch (err) {
    if (err.status !== 401) fail(err);
  }
  const main = document.getElementById('main');
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

// '/' focuses the search box, as in most list UIs.
document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
    const s = document.querySelector('input[type="search"]');
    if (s) {
      e.preventDefault();
      s.focus();
    }
  }
});
window.addEventListener('hashchange', route);
route();
