// Vexil admin UI: building the page. No innerHTML with data, so nothing an
// API returns can become markup.

// h('button', {class: 'primary', onclick: fn}, 'Save'): an element.
export function h(tag, attrs, ...children) {
  const el = document.createElementNS(
    tag === 'svg' || tag === 'rect' || tag === 'text' || tag === 'g' || tag === 'title'
      ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let seq = 0;
// A labelled control with its error line: {wrap, input, error}. The error
// line is the input's aria-describedby, so a screen reader reads it.
export function field(label, input, name) {
  const id = `f${++seq}`;
  input.id = id;
  if (name) input.name = name;
  const error = h('p', { class: 'err', id: `${id}-err`, 'aria-live': 'polite' });
  input.setAttribute('aria-describedby', error.id);
  return { wrap: h('div', {}, h('label', { for: id }, label), input, error), input, error };
}

// A form's errors: show(err) puts an API error next to the field it names
// (fields: {name: field()}), else in the form's own line.
export function errors(fields, general) {
  return {
    clear() {
      for (const f of Object.values(fields)) {
        f.error.textContent = '';
        f.input.removeAttribute('aria-invalid');
      }
      general.textContent = '';
    },
    show(err) {
      this.clear();
      const f = err.field && fields[err.field];
      if (f) {
        f.error.textContent = err.message;
        f.input.setAttribute('aria-invalid', 'true');
        f.input.focus();
      } else {
        general.textContent = err.message;
      }
    },
  };
}

export function mount(el) {
  const main = document.getElementById('main');
  main.replaceChildren(el);
}
