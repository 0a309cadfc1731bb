// A tiny element builder: every text goes in as a text node (never parsed as HTML), so nothing
// the API answers can inject markup. No inline styles: looks come from classes in app.css.

/**
 * h('button', { class: 'primary', type: 'button', on: { click } }, 'Pay')
 * Props: class, text, on (event listeners), dataset, hidden, and any attribute (aria-*, for,
 * type, href...). `false`/`null`/`undefined` props and children are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'class') element.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (name === 'text') element.textContent = value;
    else if (name === 'on') for (const [event, fn] of Object.entries(value)) element.addEventListener(event, fn);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name === 'value') element.value = value;
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

let ids = 0;
/** A fresh id for label/aria-describedby pairs. */
export function uid(prefix = 'id') {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A definition list of [term, description] pairs (cost breakdowns and the like). */
export function dl(className, rows) {
  return h(
    'dl',
    { class: className },
    rows.filter(Boolean).map(([term, value, rowClass]) =>
      h('div', { class: ['row', rowClass] }, h('dt', { text: term }), h('dd', {}, value)),
    ),
  );
}
