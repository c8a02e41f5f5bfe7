// Vexil admin UI: flag types and variants. A new flag's type and variants,
// editing a flag's variants (PUT /v1/flags/{id} {type, variants}), and what
// each environment serves by default and when off (PATCH .../state
// {default_variant, off_variant}): the platform API's extensions
// (docs/gateway.md), each one core write.
import { call, ApiError } from './api.js';
import { h, field } from './dom.js';

export const TYPES = ['boolean', 'string', 'number', 'json'];

// A value as it is typed: a string flag's text as it is, the others' JSON.
export function valueText(type, v) {
  return type === 'string' && typeof v === 'string' ? v : JSON.stringify(v);
}

function parseValue(type, text, i) {
  const t = text.trim();
  const bad = (what) => new ApiError(400, `Variant ${i + 1}: the value must be ${what}`, 'variants.value');
  if (type === 'string') return text;
  if (type === 'number') {
    const n = Number(t);
    if (t === '' || !Number.isFinite(n)) throw bad('a number');
    return n;
  }
  if (type === 'boolean') {
    if (t !== 'true' && t !== 'false') throw bad('true or false');
    return t === 'true';
  }
  try {
    return JSON.parse(t);
  } catch (e) {
    throw bad('JSON, such as {"limit": 10}');
  }
}

// Rows of key, value and description: {el, read(), fill(type, variants),
// show(err)}. read() throws an ApiError naming the variant at fault.
export function variantsEditor(type, variants) {
  let kind = type;
  let rows = [];
  const box = h('div', { class: 'variants' });
  const error = h('p', { class: 'err', role: 'alert' });
  const add = h('button', { type: 'button', onclick: () => { draw([...raw(), { key: '', value: '', description: '' }]); rows[rows.length - 1].key.focus(); } }, 'Add variant');

  function raw() {
    return rows.map((r) => ({ key: r.key.value.trim(), value: r.value.value, description: r.desc.value }));
  }
  function draw(list) {
    rows = list.map((v, i) => {
      const key = h('input', { value: v.key, autocomplete: 'off', 'aria-label': `Variant ${i + 1}`, placeholder: 'variant key' });
      const value = h('input', { value: v.value, autocomplete: 'off', 'aria-label': `Value of variant ${i + 1}`, placeholder: kind === 'string' ? 'text' : 'JSON' });
      const desc = h('input', { value: v.description || '', 'aria-label': `Note on variant ${i + 1}`, placeholder: 'what it is for' });
      const rm = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove variant ${i + 1}`,
        onclick: () => { const cur = raw(); cur.splice(i, 1); draw(cur); } }, 'Remove');
      return { key, value, desc, el: h('div', { class: 'row variant' }, key, value, desc, rm) };
    });
    // Column names for the eye; each input has its own label.
    const head = h('div', { class: 'row variant head', 'aria-hidden': 'true' },
      h('span', {}, 'Key'), h('span', {}, kind === 'string' ? 'Value (text)' : 'Value (JSON)'), h('span', {}, 'Note'), h('span', { class: 'rm' }));
    box.replaceChildren(...(rows.length ? [head] : []), ...rows.map((r) => r.el));
  }
  function fill(t, list) {
    kind = t;
    draw(list.map((v) => ({ key: v.key, value: valueText(t, v.value), description: v.description || '' })));
  }
  fill(type, variants);
  return {
    el: h('div', {}, box, error, h('p', {}, add)),
    setType(t) {
      kind = t;
      draw(raw());
    },
    read() {
      error.textContent = '';
      return raw().map((v, i) => {
        if (!v.key) throw new ApiError(400, `Variant ${i + 1} needs a key`, 'variants.key');
        return { key: v.key, value: parseValue(kind, v.value, i), description: v.description };
      });
    },
    fill,
    // An error about the variants: under them; true when it was one.
    show(err) {
      if (!err.field || !/^variants/.test(err.field)) return false;
      error.textContent = err.message;
      return true;
    },
    clear() {
      error.textContent = '';
    },
  };
}

// The type and variants of a new flag: {el, body()}; body() is {} for a
// boolean flag with on and off (the platform API's default).
export function newFlagVariants() {
  const type = field('Type', h('select', {}, TYPES.map((t) => h('option', { value: t }, t))), 'type');
  const ed = variantsEditor('string', [{ key: '', value: '' }, { key: '', value: '' }]);
  const wrap = h('fieldset', { class: 'card', hidden: true }, h('legend', {}, 'Variants'),
    h('p', { class: 'note' }, 'The first variant is served when the flag is on, the last when it is off, until you pick others per environment.'), ed.el);
  type.input.addEventListener('change', () => {
    ed.setType(type.input.value);
    wrap.hidden = type.input.value === 'boolean';
  });
  return {
    el: h('div', {}, type.wrap, wrap),
    body() {
      if (type.input.value === 'boolean') return {};
      return { type: type.input.value, variants: ed.read() };
    },
    show: (err) => ed.show(err),
  };
}

// The variants card of a flag's page: {el, draw(flag)}. A redraw from a
// live change leaves rows being edited alone.
export function variantsCard(pid, fid, onSaved) {
  let flag = null, dirty = false, seen = '';
  const shown = (f) => JSON.stringify([f.type, f.variants]);
  const warn = h('div', { role: 'alert' });
  const type = field('Type', h('select', {}, TYPES.map((t) => h('option', { value: t }, t))), 'type');
  const ed = variantsEditor('boolean', []);
  const status = h('p', { class: 'note', role: 'status' });
  const el = h('form', { class: 'card', 'aria-label': 'Variants', oninput: () => { dirty = true; }, onsubmit: async (e) => {
    e.preventDefault();
    status.textContent = '';
    ed.clear();
    try {
      const body = { variants: ed.read() };
      if (type.input.value !== flag.type) body.type = type.input.value;
      await call('PUT', `/v1/flags/${fid}`, { query: { project_id: pid }, body });
      dirty = false;
      warn.replaceChildren();
      status.textContent = 'Variants updated.';
      await onSaved();
    } catch (err) {
      if (!ed.show(err)) {
        if (err.field === 'type') type.error.textContent = err.message;
        else ed.show(new ApiError(err.status, err.message, 'variants'));
      }
    }
  } }, h('h2', {}, 'Variants'), warn, type.wrap, ed.el, status,
  h('button', { type: 'submit' }, 'Update variants'));
  type.input.addEventListener('change', () => ed.setType(type.input.value));
  function draw(f) {
    flag = f;
    // Changed underneath an edit: say so before it is saved over.
    if (dirty && shown(f) !== seen) {
      warn.replaceChildren(h('p', { class: 'warn' }, 'The variants were changed by someone else while you were editing; updating replaces them with yours. ',
        h('button', { type: 'button', onclick: () => { dirty = false; warn.replaceChildren(); draw(flag); } }, 'Show theirs')));
    }
    if (dirty) return;
    seen = shown(f);
    type.input.value = f.type;
    ed.fill(f.type, f.variants);
  }
  return { el, draw };
}

// What an environment serves by default and when off: {el, draw(flag)}.
export function servingControls(pid, fid, env, onSaved, showError) {
  const dv = field('Default variant', h('select', {}), 'default_variant');
  const ov = field('Off variant', h('select', {}), 'off_variant');
  async function save(name, sel) {
    try {
      await call('PATCH', `/v1/flags/${fid}/state`, { query: { project_id: pid }, body: { environment: env, [name]: sel.value } });
      showError('');
      await onSaved();
    } catch (err) {
      showError(err.message);
    }
  }
  dv.input.addEventListener('change', () => save('default_variant', dv.input));
  ov.input.addEventListener('change', () => save('off_variant', ov.input));
  return {
    el: h('div', { class: 'row' }, dv.wrap, ov.wrap),
    draw(f) {
      for (const [sel, map] of [[dv.input, f.default_variant], [ov.input, f.off_variant]]) {
        if (document.activeElement === sel) continue;
        sel.replaceChildren(...f.variants.map((v) => h('option', { value: v.key }, `${v.key} (${valueText(f.type, v.value)})`)));
        sel.value = (map || {})[env] || '';
      }
    },
  };
}
