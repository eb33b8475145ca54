// Builds DOM nodes. Text from the server or the model only ever becomes text nodes (never HTML), so nothing it
// contains can run or change the page.

/**
 * el('p', { class: 'x', onclick: fn }, 'text', childNode, [more, children])
 * Attributes: `class`, `for`, `hidden`, aria-* and data-* are attributes; `on…` are listeners; other keys are
 * properties (value, disabled, checked, …). Strings and numbers among the children become text nodes.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class' || key === 'for' || key === 'role' || key === 'hidden' || key.startsWith('aria-') || key.startsWith('data-')) node.setAttribute(key, value === true ? '' : String(value));
    else node[key] = value;
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** A link that opens outside the console (Temporal Web UI). Only http(s) addresses become links. */
export function externalLink(href, text) {
  if (!/^https?:\/\//.test(String(href))) return el('span', {}, text);
  return el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, text, el('span', { class: 'sr-only' }, ' (opens in a new tab)'));
}

export function when(iso) {
  if (!iso) return 'never';
  const d = new Date(iso);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < -60) return `in ${Math.round(-s / 60)} min`;
  if (s < 0) return `in ${-s} s`;
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return d.toLocaleString();
}

export function time(iso) {
  return el('time', { datetime: iso, title: iso }, when(iso));
}

/** A labelled progress bar with its numbers as text beside it (the text is what people and tests read). */
export function progressBar(percent, label, text) {
  return el('div', { class: 'bar' }, el('progress', { max: 100, value: percent, 'aria-label': label }), el('span', { class: 'bar-text' }, text));
}

export const usd = (n) => `$${Number(n).toFixed(2)}`;
