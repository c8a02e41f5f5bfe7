// Vexil admin UI: a project's members (docs/teams.md), through the
// documented extensions /v1/members (MemberService, docs/gateway.md).
// Everyone who reads the project sees the list; admins add people by
// email, change their role and remove them (vexild checks every call).
import { call, credential } from './api.js';
import { h, field, errors, mount } from './dom.js';

const ROLES = ['read', 'write', 'admin'];

// #/p/<pid>/members
export async function viewMembers(shell, pid) {
  const p = await shell.project(pid);
  shell.renderNav(pid, 'members');
  const body = h('tbody', {});
  const listErr = h('p', { class: 'err', role: 'alert' });
  const email = field('Email of a user who has signed up', h('input', { type: 'email', required: true, autocomplete: 'off' }), 'email');
  const role = field('Role', h('select', {}, ROLES.map((r) => h('option', { value: r, selected: r === 'write' }, r))), 'role');
  role.input.value = 'write';
  const general = h('p', { class: 'err', role: 'alert' });
  const errs = errors({ email, role }, general);
  const added = h('p', { role: 'status', 'aria-live': 'polite' });
  const me = credential();

  function row(m, i) {
    const owner = i === 0; // the list has the owner first
    const err = h('span', { class: 'err' });
    const you = me && me.kind === 'token' && me.email === m.email;
    const sel = h('select', { 'aria-label': `Role of ${m.email}`, disabled: owner },
      ROLES.map((r) => h('option', { value: r, selected: r === m.role }, r)));
    sel.value = m.role;
    sel.addEventListener('change', async () => {
      try {
        await call('PATCH', `/v1/members/${m.id}`, { query: { project_id: pid }, body: { role: sel.value } });
        err.textContent = '';
        await load();
      } catch (e) {
        sel.value = m.role;
        err.textContent = e.message;
      }
    });
    return h('tr', { 'data-member': m.email },
      h('td', {}, m.email, you ? h('span', { class: 'note' }, ' (you)') : null),
      h('td', {}, sel, owner ? h('span', { class: 'note' }, ' owner') : null),
      h('td', { class: 'note' }, m.added_by ? `added by ${m.added_by} on ${m.added_at.slice(0, 10)}` : `since ${m.added_at.slice(0, 10)}`),
      h('td', {}, owner ? null : h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${m.email}`, onclick: async () => {
        try {
          await call('DELETE', `/v1/members/${m.id}`, { query: { project_id: pid } });
          await load();
        } catch (e) {
          err.textContent = e.message;
        }
      } }, 'Remove'), err));
  }

  // live: a change notice's reload, which throws when the read fails.
  async function load(live) {
    try {
      const list = (await call('GET', '/v1/members', { query: { project_id: pid } })).members;
      listErr.textContent = '';
      body.replaceChildren(...list.map(row));
    } catch (e) {
      if (live) throw e;
      listErr.textContent = e.message;
    }
  }
  shell.setRefresh(() => load(true));
  mount(h('div', {}, h('h1', {}, `Members of ${p.name}`),
    h('p', { class: 'note' }, 'Members work on this project with their role: read may look, write may also change flags, admin may also manage members, keys and environments. Only admins change this list.'),
    h('table', { class: 'members' }, h('thead', {}, h('tr', {}, h('th', {}, 'Email'), h('th', {}, 'Role'), h('th', {}, 'Added'), h('th', {}, ''))), body),
    listErr,
    h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      errs.clear();
      try {
        const m = await call('POST', '/v1/members', { body: { project_id: pid, email: email.input.value.trim(), role: role.input.value } });
        added.textContent = `${m.email} added as ${m.role}.`;
        email.input.value = '';
        await load();
      } catch (err) {
        added.textContent = '';
        errs.show(err);
      }
    } }, h('h2', {}, 'Add a member'), h('div', { class: 'row' }, email.wrap, role.wrap,
      h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Add member'))), general, added)));
  await load();
}
