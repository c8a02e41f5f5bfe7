// Vexil admin UI: change requests (docs/teams.md). A write that changes a
// protected environment is held by vexild as a change request; this module
// recognises that answer, shows it as what it is (with the request's
// number), and draws the queue of open requests where another member
// reviews them: the proposed change as a before/after table, comments,
// approve, reject, withdraw. Everything is the documented extensions
// /v1/change-requests... and /v1/members (docs/gateway.md).
import { call, credential } from './api.js';
import { h, field, errors, mount } from './dom.js';

// The number of the change request a refused write opened, or null: the
// core answers FAILED_PRECONDITION with detail field "change_request" and
// a message "change request <n> opened: ...".
export function heldChange(err) {
  if (!err || err.status !== 400) return null;
  const m = /^change request (\d+) opened/.exec(err.message || '');
  return m && err.field === 'change_request' ? Number(m[1]) : null;
}

// What to show where a save went: for a held write, a notice with the
// request's number and a link to the queue; otherwise the error itself.
export function saveOutcome(err, pid) {
  const n = heldChange(err);
  if (n === null) return h('span', { class: 'err' }, err.message);
  return h('span', { class: 'held', role: 'status', 'data-change': n },
    `Change request #${n} opened: this environment is protected, so the change waits for another member's approval. `,
    h('a', { href: `#/p/${pid}/changes` }, 'Review queue'));
}

// Puts saveOutcome(err) into el (an error line next to a control).
export function showOutcome(el, err, pid) {
  el.replaceChildren(saveOutcome(err, pid));
}

// A checkbox that protects an environment (PATCH, admin only), for the
// environments table; errors go to errEl.
export function protectToggle(pid, env, errEl, onDone) {
  const box = h('input', { type: 'checkbox', checked: !!env.protected,
    'aria-label': `Protect ${env.key}` });
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      await call('PATCH', `/v1/environments/${env.id}`, { query: { project_id: pid }, body: { protected: box.checked } });
      errEl.textContent = '';
      if (onDone) onDone();
    } catch (err) {
      box.checked = !box.checked;
      errEl.textContent = err.message;
    }
    box.disabled = false;
  });
  return h('label', { class: 'switch' }, box, 'Protected');
}

const OPERATIONS = {
  SetFlagEnabled: 'switch', UpdateFlagEnv: 'change the state of', UpdateFlag: 'change',
  CreateFlag: 'create', DeleteFlag: 'delete', CreateRule: 'add a rule to',
  UpdateRule: 'change a rule of', DeleteRule: 'delete a rule of',
};

// The core's "field: old → new" lines as a before/after table.
function diffTable(diff) {
  const lines = (diff || '').split('\n').filter(Boolean);
  if (!lines.length) return h('p', { class: 'note' }, 'No difference recorded.');
  return h('table', { class: 'diff proposed' }, h('thead', {}, h('tr', {},
    h('th', {}, 'Field'), h('th', {}, 'Before'), h('th', {}, 'After'))),
  h('tbody', {}, lines.map((line) => {
    const colon = line.indexOf(': '), arrow = line.indexOf(' → ', colon);
    if (colon < 0 || arrow < 0) return h('tr', {}, h('td', { colspan: 3 }, line));
    const before = line.slice(colon + 2, arrow), after = line.slice(arrow + 3);
    return h('tr', { 'data-field': line.slice(0, colon) }, h('td', { class: 'key' }, line.slice(0, colon)),
      h('td', {}, h('del', {}, before === '(none)' ? '(nothing)' : before || '(empty)')),
      h('td', {}, h('ins', {}, after === '(none)' ? '(nothing)' : after || '(empty)')));
  })));
}

// Who the signed-in person is in the project: {actor, role} (role null
// for an API key, whose rights only the server knows). Throws when the
// members cannot be read.
async function me(pid) {
  const c = credential();
  if (!c || c.kind !== 'token') return { actor: null, role: null };
  const list = (await call('GET', '/v1/members', { query: { project_id: pid } })).members;
  const m = list.find((x) => x.email === c.email);
  return { actor: c.actor, role: m ? m.role : null };
}

function mine(actor, by) {
  return !!actor && (by === actor || by.startsWith(`${actor} (`));
}

// #/p/<pid>/changes: the open change requests, oldest first.
export async function viewChanges(shell, pid) {
  const p = await shell.project(pid);
  shell.renderNav(pid, 'changes');
  const box = h('div', {});
  const status = h('p', { class: 'err', role: 'alert' });
  const done = h('p', { role: 'status', 'aria-live': 'polite' });
  const roleErr = h('p', { class: 'warn', role: 'status' });
  // Unknown, every action is offered and vexild decides, as for an API key.
  let who = { actor: (credential() || {}).actor || null, role: null };
  try {
    who = await me(pid);
  } catch (err) {
    roleErr.textContent = `Your role could not be read (${err.message}): every action is offered, and the server refuses what your role does not allow.`;
  }

  async function act(cr, verb, line) {
    try {
      await call('POST', `/v1/change-requests/${cr.id}/${verb}`, { query: { project_id: pid } });
      done.textContent = verb === 'approve' ? `Change request #${cr.id.slice(7)} approved and made.`
        : verb === 'reject' ? `Change request #${cr.id.slice(7)} rejected.` : `Change request #${cr.id.slice(7)} withdrawn.`;
      await load();
    } catch (err) {
      line.textContent = err.message;
    }
  }

  function card(cr) {
    const n = cr.id.slice(7);
    const author = mine(who.actor, cr.created_by);
    const reviewer = who.role === null || who.role === 'write' || who.role === 'admin';
    const line = h('p', { class: 'err', role: 'alert' });
    const text = field('Comment', h('textarea', { rows: 2, maxlength: 2000 }), 'text');
    const general = h('p', { class: 'err', role: 'alert' });
    const errs = errors({ text }, general);
    const buttons = [];
    if (!author && reviewer)
      buttons.push(h('button', { type: 'button', class: 'primary', onclick: () => act(cr, 'approve', line) }, 'Approve'));
    if (reviewer)
      buttons.push(h('button', { type: 'button', class: 'danger', onclick: () => act(cr, 'reject', line) }, 'Reject'));
    if (author || who.actor === null)
      buttons.push(h('button', { type: 'button', onclick: () => act(cr, 'withdraw', line) }, 'Withdraw'));
    return h('section', { class: 'card change', 'data-change': n, 'aria-label': `Change request ${n}` },
      h('h2', {}, `#${n}: ${OPERATIONS[cr.operation] || cr.operation} `, h('code', {}, cr.target),
        ` in ${cr.environment}`),
      h('p', { class: 'note' }, `Proposed by ${author ? 'you' : cr.created_by} on ${cr.created_at.replace('T', ' ').replace('Z', ' UTC')}, `,
        `based on revision ${cr.base_revision}`, cr.at ? `; to apply at ${cr.at.replace('T', ' ').replace('Z', ' UTC')}` : '', '.'),
      diffTable(cr.diff),
      cr.comments.length ? h('ul', { class: 'comments' }, cr.comments.map((c) => h('li', {},
        h('span', { class: 'note' }, `${mine(who.actor, c.by) ? 'you' : c.by}: `), c.text))) : null,
      h('form', { onsubmit: async (e) => {
        e.preventDefault();
        try {
          await call('POST', `/v1/change-requests/${cr.id}/comments`, { query: { project_id: pid }, body: { text: text.input.value } });
          await load();
        } catch (err) {
          errs.show(err);
        }
      } }, text.wrap, general, h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Comment'), ...buttons)),
      author ? h('p', { class: 'note' }, 'Another member with write or admin approves it.') : null,
      !reviewer && !author ? h('p', { class: 'note' }, 'Your role is read: you may comment; a member with write or admin approves.') : null,
      line);
  }

  // live: a change notice's reload, which reads the role again too and
  // throws when a read fails (the page keeps what it shows).
  async function load(live) {
    try {
      const now = live ? await me(pid) : who;
      const list = (await call('GET', '/v1/change-requests', { query: { project_id: pid } })).change_requests;
      if (live) {
        who = now;
        roleErr.textContent = '';
      }
      status.textContent = '';
      box.replaceChildren(...(list.length ? list.map(card) : [h('p', {}, 'No open change requests.')]));
    } catch (err) {
      if (live) throw err;
      status.textContent = err.message;
    }
  }
  shell.setRefresh(() => load(true));
  mount(h('div', {}, h('h1', {}, `Change requests of ${p.name}`),
    h('p', { class: 'note' }, 'Changes to protected environments wait here for another member with write or admin to approve them. ',
      'Approving makes the change as its author; a request whose flag changed since is refused as stale, and its author proposes it again.'),
    h('p', {}, h('button', { type: 'button', onclick: () => { done.textContent = ''; load(); } }, 'Refresh')),
    roleErr, done, status, box));
  await load();
}
