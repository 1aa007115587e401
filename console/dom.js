// Building the page with DOM calls only: every value reaches the page as a text node or an
// attribute value, never as markup, so a description holding "<script>" shows as text.

// h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child, [more]) -> the element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

// An SVG element (the chart), with the same attributes and children as h().
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.setAttribute('class', value);
    } else if (key === 'value' && 'value' in el) {
      el.value = value;
    } else if (key === 'checked' || key === 'disabled' || key === 'selected') {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replaces the element's children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A table: `columns` as [heading, className?], `rows` as arrays of cells (text or nodes).
export function table(caption, columns, rows) {
  return h('table', {},
    caption ? h('caption', {class: 'visually-hidden'}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map(([name, cls]) => h('th', {scope: 'col', class: cls}, name)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) =>
      h('td', {class: columns[i] && columns[i][1]}, c))))));
}

export function badge(value) {
  if (value === null || value === undefined) return h('span', {class: 'muted'}, '—');
  return h('span', {class: `status s-${String(value).replace(/[^A-Za-z_]/g, '')}`}, String(value));
}

// A message box; role=alert for errors, so screen readers announce it.
export function message(kind, ...children) {
  return h('div', {class: kind, role: kind === 'alert' ? 'alert' : 'status'}, ...children);
}

// The confirmation step of every action: resolves true when the operator confirms.
export function confirmAction(text, okLabel) {
  const dialog = document.getElementById('confirm');
  replace(document.getElementById('confirm-text'), text);
  document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
  });
}
