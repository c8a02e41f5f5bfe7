// Vexil admin UI: rules. Conditions (every operator, negation, `missing`;
// all must hold), segments, and what a rule serves: a variant or a
// weighted split with its stickiness. POST /v1/flags/{id}/rules and PATCH
// .../rules/{rule_id}, the platform API's extensions (docs/gateway.md).
import { call, ApiError } from './api.js';
import { h, field } from './dom.js';

export const OPERATORS = ['equals', 'in', 'contains', 'starts_with', 'ends_with', 'matches', 'lt',
  'lte', 'gt', 'gte', 'semver_eq', 'semver_lt', 'semver_gt', 'before', 'after', 'cidr', 'num_eq'];

function conditionText(c) {
  return [c.negate ? 'not ' : '', c.attribute, ' ', c.operator, ' ', c.values.join(', '), c.missing ? ' (or missing)' : ''].join('');
}

// "email ends_with @x and country in NZ, AU and segment staff": what a
// rule matches (its serving is shown apart).
export function ruleText(r) {
  const conds = (r.conditions && r.conditions.length ? r.conditions : r.attribute ? [r] : []).map(conditionText);
  return [...conds, ...(r.segments || []).map((s) => `segment ${s}`)].join(' and ') || 'everyone';
}

export function servingText(r) {
  if (r.split && r.split.length) {
    const total = r.split.reduce((a, s) => a + s.weight, 0) || 1;
    return `a split: ${r.split.map((s) => `${s.variant} ${Math.round((s.weight * 1000) / total) / 10}%`).join(' / ')}` +
      (r.split_stickiness ? ` by ${r.split_stickiness}` : '');
  }
  return r.variant || 'on';
}

// Rows of conditions: {el, read(), reset(list), show(err)}. The first
// row's labels are the plain ones (Attribute, Operator, ...), the others'
// name their row.
export function conditionsEditor(initial) {
  let rows = [];
  const box = h('div', { class: 'conditions' });
  const add = h('button', { type: 'button', onclick: () => { draw([...raw(), {}]); rows[rows.length - 1].attr.input.focus(); } }, 'Add condition');

  function raw() {
    return rows.map((r) => ({ attribute: r.attr.input.value.trim(), operator: r.op.input.value,
      values: r.vals.input.value.split(',').map((v) => v.trim()).filter(Boolean), negate: r.neg.checked, missing: r.miss.checked }));
  }
  function draw(list) {
    rows = list.map((c, i) => {
      const sfx = i === 0 ? '' : ` (condition ${i + 1})`;
      const attr = field(`Attribute${sfx}`, h('input', { placeholder: 'email', autocomplete: 'off', value: c.attribute || '' }), 'attribute');
      const op = field(`Operator${sfx}`, h('select', {}, OPERATORS.map((o) => h('option', { value: o }, o))), 'operator');
      op.input.value = c.operator || 'equals';
      const vals = field(`Values (comma-separated)${sfx}`, h('input', { placeholder: '@example.com', value: (c.values || []).join(', ') }), 'values');
      const neg = h('input', { type: 'checkbox', checked: !!c.negate });
      const miss = h('input', { type: 'checkbox', checked: !!c.missing });
      const rm = i === 0 ? null : h('div', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Remove condition ${i + 1}`,
        onclick: () => { const cur = raw(); cur.splice(i, 1); draw(cur); } }, 'Remove'));
      return { attr, op, vals, neg, miss, el: h('div', { class: 'row condition' }, attr.wrap, op.wrap, vals.wrap,
        h('div', {}, h('label', { class: 'switch' }, neg, `Negate${sfx}`)),
        h('div', {}, h('label', { class: 'switch', title: 'The condition holds for a context without the attribute' }, miss, `Holds when missing${sfx}`)), rm) };
    });
    box.replaceChildren(...rows.map((r) => r.el));
  }
  draw(initial && initial.length ? initial : [{}]);
  return {
    el: h('div', {}, box, h('p', {}, add)),
    read: raw,
    focus() {
      rows[0].attr.input.focus();
    },
    reset(list) {
      draw(list && list.length ? list : [{}]);
    },
    clear() {
      for (const r of rows) for (const f of [r.attr, r.op, r.vals]) {
        f.error.textContent = '';
        f.input.removeAttribute('aria-invalid');
      }
    },
    // An API error naming a condition's field, next to it (the row from
    // "conditions[N]" in the message); false when it names none.
    show(err) {
      const name = (err.field || '').replace(/^conditions\.?/, '').replace(/^\[\d+\]\.?/, '');
      const m = /conditions\[(\d+)\]/.exec(err.message || '');
      const row = rows[m ? Math.min(Number(m[1]), rows.length - 1) : 0];
      const f = row && { attribute: row.attr, operator: row.op, values: row.vals }[name];
      if (!f) return false;
      f.error.textContent = err.message;
      f.input.setAttribute('aria-invalid', 'true');
      f.input.focus();
      return true;
    },
  };
}

// The form adding a rule to one environment of a flag, or changing one:
// {el, draw(flag, segments), edit(rule)}. opts: {pid, fid, env, reload}.
export function ruleForm(opts) {
  const { pid, fid, env, reload } = opts;
  let flag = null, editing = null;
  const conds = conditionsEditor();
  const general = h('p', { class: 'err', role: 'alert' });
  const segBox = h('div', { class: 'row' });
  const serve = field('Serves', h('select', {}), 'variant');
  const weights = h('div', { class: 'row' });
  const sticky = field('Stickiness of the split', h('input', { placeholder: 'user_id', autocomplete: 'off' }), 'split_stickiness');
  const splitErr = h('p', { class: 'err', role: 'alert' });
  const splitBox = h('fieldset', { hidden: true }, h('legend', {}, 'Weights (they must add up to 100%)'), weights, sticky.wrap, splitErr);
  const share = field('Serve to % of matches', h('input', { type: 'number', min: 0, max: 100, value: 100, class: 'pct' }), 'rollout');
  let segChecks = [];
  serve.input.addEventListener('change', () => { splitBox.hidden = serve.input.value !== ''; });

  function split() {
    const list = [...weights.querySelectorAll('input')].map((i) => ({ variant: i.dataset.variant, weight: Number(i.value || 0) }));
    const total = list.reduce((a, s) => a + s.weight, 0);
    if (list.some((s) => !Number.isInteger(s.weight) || s.weight < 0) || total !== 100)
      throw new ApiError(400, `The weights add up to ${total}%, not 100%`, 'split');
    return list.filter((s) => s.weight > 0);
  }

  const heading = h('h3', {}, 'Add a rule');
  const submit = h('button', { type: 'submit' }, 'Add rule');
  const cancel = h('button', { type: 'button', hidden: true, onclick: () => done() }, 'Cancel');
  function done() {
    editing = null;
    conds.reset();
    share.input.value = 100;
    sticky.input.value = '';
    for (const c of segChecks) c.checked = false;
    heading.textContent = 'Add a rule';
    submit.textContent = 'Add rule';
    cancel.hidden = true;
  }

  const el = h('form', { 'aria-label': `Add a rule in ${env}`, onsubmit: async (ev) => {
    ev.preventDefault();
    general.textContent = splitErr.textContent = '';
    conds.clear();
    share.error.textContent = sticky.error.textContent = '';
    sticky.input.removeAttribute('aria-invalid');
    if (editing) {
      try {
        // One UpdateRule: what the form shows replaces the rule's.
        const body = { conditions: conds.read().filter((c) => c.attribute || c.values.length),
          segments: segChecks.filter((c) => c.checked).map((c) => c.value),
          rollout: share.input.value === '' || Number(share.input.value) === 100 ? null : Number(share.input.value) };
        // The split's stickiness as the form shows it: blank buckets by
        // the rollout's again (null).
        if (serve.input.value === '') {
          body.split = split();
          body.split_stickiness = sticky.input.value.trim() || null;
        } else body.variant = serve.input.value;
        await call('PATCH', `/v1/flags/${fid}/rules/${editing.id}`, { query: { project_id: pid }, body });
        done();
        await reload();
      } catch (err) {
        if (err.field === 'split_stickiness') showSticky(err);
        else if (/^split/.test(err.field || '')) splitErr.textContent = err.message;
        else if (err.field === 'rollout') share.error.textContent = err.message;
        else if (!conds.show(err)) general.textContent = err.message;
      }
      return;
    }
    try {
      const rules = (flag.rules || []).filter((r) => r.environment === env);
      const list = conds.read().filter((c) => c.attribute || c.values.length || list0(c));
      const segments = segChecks.filter((c) => c.checked).map((c) => c.value);
      // A new rule goes last: below the lowest priority there is.
      const body = { environment: env, priority: rules.length ? Math.min(...rules.map((r) => r.priority)) - 1 : 0 };
      // One condition and no segment: the document's own form.
      if (list.length === 1 && !segments.length) Object.assign(body, list[0]);
      else body.conditions = list;
      if (segments.length) body.segments = segments;
      if (serve.input.value === '') {
        body.split = split();
        if (sticky.input.value.trim()) body.split_stickiness = sticky.input.value.trim();
      } else if (!(flag.type === 'boolean' && serve.input.value === 'on')) {
        body.variant = serve.input.value;
      }
      if (share.input.value !== '' && Number(share.input.value) !== 100) body.rollout = Number(share.input.value);
      await call('POST', `/v1/flags/${fid}/rules`, { query: { project_id: pid }, body });
      done();
      await reload();
    } catch (err) {
      if (err.field === 'split_stickiness') showSticky(err);
      else if (err.field === 'split' || /^split/.test(err.field || '')) splitErr.textContent = err.message;
      else if (err.field === 'rollout') share.error.textContent = err.message;
      else if (!conds.show(err)) general.textContent = err.message;
    }
  } }, heading, conds.el, segBox, h('div', { class: 'row' }, serve.wrap, share.wrap), splitBox, general,
  h('p', {}, submit, ' ', cancel));

  function showSticky(err) {
    sticky.error.textContent = err.message;
    sticky.input.setAttribute('aria-invalid', 'true');
    sticky.input.focus();
  }

  // A row left as it came (no attribute, no values) is not a condition,
  // unless it is the only thing the rule would have.
  function list0(c) {
    return c.negate || c.missing;
  }

  return {
    el,
    // Fills the form from rule r; saving sends one PATCH of it, the
    // split's stickiness with it.
    edit(r) {
      editing = r;
      conds.reset(r.conditions);
      for (const c of segChecks) c.checked = (r.segments || []).includes(c.value);
      share.input.value = r.rollout === null ? 100 : r.rollout;
      const hasSplit = r.split && r.split.length;
      serve.input.value = hasSplit ? '' : (r.variant || 'on');
      splitBox.hidden = !hasSplit;
      const total = hasSplit ? r.split.reduce((a, s) => a + s.weight, 0) : 0;
      for (const i of weights.querySelectorAll('input')) {
        const s = hasSplit && r.split.find((x) => x.variant === i.dataset.variant);
        i.value = hasSplit ? (s ? Math.round((s.weight * 100) / total) : 0) : i.value;
      }
      sticky.input.value = r.split_stickiness || '';
      heading.textContent = `Change the rule ${ruleText(r)}`;
      submit.textContent = 'Save rule';
      cancel.hidden = false;
      conds.focus();
    },
    draw(f, segments) {
      flag = f;
      const keys = f.variants.map((v) => v.key);
      const cur = serve.input.value;
      if (document.activeElement !== serve.input) {
        serve.input.replaceChildren(...keys.map((k) => h('option', { value: k }, `variant ${k}`)), h('option', { value: '' }, 'a weighted split'));
        // The choice made stays across live redraws while it still exists.
        serve.input.value = serve.input.dataset.drawn && (cur === '' || keys.includes(cur)) ? cur : keys[0];
        serve.input.dataset.drawn = 'yes';
        splitBox.hidden = serve.input.value !== '';
      }
      const have = [...weights.querySelectorAll('input')].map((i) => i.dataset.variant).join();
      if (have !== keys.join()) {
        weights.replaceChildren(...keys.map((k, i) => {
          const w = field(`Weight of ${k} (%)`, h('input', { type: 'number', min: 0, max: 100, class: 'pct', value: i < 2 ? 50 : 0 }), 'weight');
          w.input.dataset.variant = k;
          return w.wrap;
        }));
      }
      const checked = new Set(segChecks.filter((c) => c.checked).map((c) => c.value));
      segChecks = segments.map((s) => h('input', { type: 'checkbox', value: s.name, checked: checked.has(s.name) }));
      segBox.replaceChildren(...(segments.length ? [h('span', { class: 'note' }, 'Only users in:')] : []),
        ...segments.map((s, i) => h('label', { class: 'switch' }, segChecks[i], `Segment ${s.name}`)));
    },
  };
}

// One rule of the list: its matches, what it serves (a select to change the
// variant), its rollout, edit, its order and delete. opts: {flag, patch(r,
// body), remove(r), edit(r)}.
export function ruleItem(r, i, rules, opts) {
  const text = ruleText(r);
  const roll = h('input', { type: 'number', min: 0, max: 100, class: 'pct', value: r.rollout === null ? 100 : r.rollout,
    'aria-label': `Serve ${text} to % of matches` });
  roll.addEventListener('change', () => opts.patch(r, { rollout: Number(roll.value) === 100 ? null : Number(roll.value) }));
  const sel = h('select', { 'aria-label': `Variant served by ${text}` },
    opts.flag.variants.map((v) => h('option', { value: v.key }, v.key)),
    r.split && r.split.length ? h('option', { value: '' }, servingText(r)) : null);
  sel.value = r.split && r.split.length ? '' : (r.variant || 'on');
  sel.addEventListener('change', () => { if (sel.value) opts.patch(r, { variant: sel.value }); });
  return h('li', { 'data-rule': r.id }, h('code', {}, text), ' → ', sel, ' ',
    h('label', { class: 'switch' }, 'to ', roll, '%'), ' ',
    h('button', { type: 'button', 'aria-label': `Edit rule ${text}`, onclick: () => opts.edit(r) }, 'Edit'), ' ',
    h('button', { type: 'button', disabled: i === 0, 'aria-label': `Move ${text} up`,
      onclick: () => opts.patch(r, { priority: rules[i - 1].priority + 1 }) }, '↑'), ' ',
    h('button', { type: 'button', disabled: i === rules.length - 1, 'aria-label': `Move ${text} down`,
      onclick: () => opts.patch(r, { priority: rules[i + 1].priority - 1 }) }, '↓'), ' ',
    h('button', { type: 'button', class: 'danger', 'aria-label': `Delete rule ${text}`, onclick: () => opts.remove(r) }, 'Delete'));
}
