// Vexil admin UI: a project's segments (named sets of conditions that
// rules of any flag can require) and a flag's prerequisites (flags it
// requires in an environment). /v1/segments and PUT
// /v1/flags/{id}/prerequisites, the platform API's extensions
// (docs/gateway.md), each one core write.
import { call } from './api.js';
import { h, field, errors } from './dom.js';
import { conditionsEditor, ruleText } from './rules.js';

export async function listSegments(pid) {
  return (await call('GET', '/v1/segments', { query: { project_id: pid } })).segments;
}

// The segments page: mounts into box; returns its reload, for live updates.
export async function viewSegments(p, box) {
  const pid = p.id;
  const list = h('div', {});
  const listErr = h('p', { class: 'err', role: 'alert' });
  // The segment whose row is open for editing: live updates leave the
  // page alone meanwhile, so nothing typed is lost.
  let editing = null;
  // Whether listErr says the list could not be read (a live reload that
  // reads it clears that), rather than why a delete was refused: that
  // stays until the person acts again, whatever live update comes in.
  let readErr = false;

  function editor(s) {
    const desc = field('Description', h('input', { value: s ? s.description : '' }), 'description');
    const name = s ? null : field('Name', h('input', { required: true, autocomplete: 'off', placeholder: 'beta-testers' }), 'name');
    const conds = conditionsEditor(s ? s.conditions : []);
    const general = h('p', { class: 'err', role: 'alert' });
    const errs = errors(name ? { name, description: desc } : { description: desc }, general);
    const form = h('form', { class: 'card', 'aria-label': s ? `Edit segment ${s.name}` : 'New segment', onsubmit: async (e) => {
      e.preventDefault();
      errs.clear();
      conds.clear();
      const conditions = conds.read().filter((c) => c.attribute || c.values.length);
      try {
        if (s) await call('PUT', `/v1/segments/${encodeURIComponent(s.name)}`, { query: { project_id: pid }, body: { description: desc.input.value, conditions } });
        else await call('POST', '/v1/segments', { body: { project_id: pid, name: name.input.value.trim(), description: desc.input.value, conditions } });
        if (s) editing = null;
        else creator.replaceChildren(editor(null));
        await load();
      } catch (err) {
        if (!conds.show(err)) errs.show(err);
      }
    } }, h('h2', {}, s ? `Segment ${s.name}` : 'New segment'),
    h('div', { class: 'row' }, name ? name.wrap : null, desc.wrap), h('p', { class: 'note' }, 'Every condition must hold; none: everyone.'),
    conds.el, general,
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, s ? 'Save segment' : 'Create segment'), ' ',
      s ? h('button', { type: 'button', onclick: () => { editing = null; load(); } }, 'Cancel') : null));
    return form;
  }

  const creator = h('div', {}, editor(null));
  async function load(live) {
    let segs;
    try {
      segs = await listSegments(pid);
      if (!live || readErr) listErr.textContent = '';
      readErr = false;
    } catch (err) {
      // A change notice's reload: the page says so (app.js), the list stays.
      if (live) throw err;
      listErr.textContent = err.message;
      readErr = true;
      return;
    }
    list.replaceChildren(segs.length ? h('table', { class: 'segments' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Description'), h('th', {}, 'Conditions'), h('th', {}, ''))),
      h('tbody', {}, segs.map((s) => {
        const row = h('tr', { 'data-segment': s.name }, h('td', { class: 'key' }, s.name), h('td', {}, s.description),
          h('td', {}, h('code', {}, s.conditions.length ? ruleText({ conditions: s.conditions }) : 'everyone')),
          h('td', {}, h('button', { type: 'button', 'aria-label': `Edit segment ${s.name}`,
            onclick: () => { editing = s.name; row.replaceWith(h('tr', {}, h('td', { colspan: 4 }, editor(s)))); } }, 'Edit'), ' ',
          h('button', { type: 'button', class: 'danger', 'aria-label': `Delete segment ${s.name}`, onclick: async () => {
            try {
              await call('DELETE', `/v1/segments/${encodeURIComponent(s.name)}`, { query: { project_id: pid } });
              await load();
            } catch (err) {
              listErr.textContent = err.message;
              readErr = false;
            }
          } }, 'Delete')));
        return row;
      }))) : h('p', {}, 'No segments yet.'));
  }
  box.replaceChildren(h('div', {}, h('h1', {}, `Segments of ${p.name}`),
    h('p', { class: 'note' }, 'A rule that requires a segment matches only users for whom all of the segment\'s conditions hold. Changing a segment changes every flag that uses it, in one write.'),
    listErr, list, creator));
  await load();
  return () => (editing ? null : load(true));
}

// A flag's prerequisites in one environment: {el, draw(flag)}. Each
// change sends the environment's whole list (one write).
export function prereqEditor(pid, fid, env, onSaved) {
  let current = [];
  const list = h('ul', { class: 'prereqs' });
  const parent = field('Requires flag', h('input', { autocomplete: 'off', placeholder: 'parent-flag-key' }), 'flag');
  const when = field('Parent must be', h('select', {}, h('option', { value: 'on' }, 'on'), h('option', { value: 'off' }, 'off')), 'when');
  const vars = field('Serving one of (variants, comma-separated; empty: any)', h('input', { autocomplete: 'off' }), 'variants');
  const general = h('p', { class: 'err', role: 'alert' });
  const errs = errors({ flag: parent, when, variants: vars }, general);

  async function save(next) {
    await call('PUT', `/v1/flags/${fid}/prerequisites`, { query: { project_id: pid }, body: { environment: env, prerequisites: next } });
    errs.clear();
    await onSaved();
  }
  function text(x) {
    return `${x.flag} ${x.when}${x.variants.length ? ` (${x.variants.join(', ')})` : ''}`;
  }
  const form = h('form', { 'aria-label': `Add a prerequisite in ${env}`, onsubmit: async (e) => {
    e.preventDefault();
    const item = { flag: parent.input.value.trim(), when: when.input.value,
      variants: vars.input.value.split(',').map((v) => v.trim()).filter(Boolean) };
    try {
      await save([...current.filter((x) => x.flag !== item.flag), item]);
      parent.input.value = vars.input.value = '';
    } catch (err) {
      // The core names prerequisites[N].flag_key and the like.
      const name = (err.field || '').replace(/^prerequisites(\[\d+\])?\.?/, '').replace('flag_key', 'flag');
      errs.show(Object.assign(err, { field: name || null }));
    }
  } }, h('div', { class: 'row' }, parent.wrap, when.wrap, vars.wrap, h('div', {}, h('button', { type: 'submit' }, 'Add prerequisite'))), general);
  return {
    el: h('div', { class: 'prereq' }, h('h3', {}, 'Prerequisites'), list, form),
    draw(f) {
      current = (f.prerequisites || {})[env] || [];
      list.replaceChildren(...(current.length ? current.map((x) => h('li', {}, 'Requires ', h('code', {}, text(x)), ' ',
        h('button', { type: 'button', class: 'danger', 'aria-label': `Remove prerequisite ${x.flag}`, onclick: async () => {
          try {
            await save(current.filter((y) => y.flag !== x.flag));
          } catch (err) {
            general.textContent = err.message;
          }
        } }, 'Remove'))) : [h('li', { class: 'note' }, 'None: the flag does not depend on others here.')]));
    },
  };
}
