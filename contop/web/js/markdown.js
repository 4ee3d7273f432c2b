// A safe subset of Markdown for the agent's answers: headings, paragraphs, **bold**, *italic*, `code`, fenced code
// blocks, lists, tables, block quotes, rules and http(s) links. Raw HTML is never interpreted: the parser yields a
// tree of known node types whose text is only ever set as text, and renderMarkdown builds DOM nodes from it with
// the element builder it is given (h from ui/dom.js), never with innerHTML. A link that is not http(s) is text.
//
// The text comes from a model (and whatever it read), so the parser is built to stay fast and shallow on any input:
// nesting (quotes, lists, emphasis, links) stops at MAX_DEPTH, after which the markers are plain text; every search
// for a closing delimiter is linear over a block's text in total; each line pattern is checked in time linear in the
// line; and only the first MAX_MARKDOWN characters are read as Markdown, the rest being shown as plain text.

/** How deep quotes and lists (and, separately, emphasis and links) may nest; deeper markers stay as typed. */
export const MAX_DEPTH = 16;
/** How much of a text is read as Markdown; what follows is plain text. */
export const MAX_MARKDOWN = 20000;
/** How many cells a table may have; the rows past them are shown as text. */
export const MAX_TABLE_CELLS = 10000;

// A fence's info string may not hold a backtick ("```a```" on one line is inline code, not a fence).
const FENCE = /^ {0,3}(`{3,}|~{3,})([^]*)$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+|$)/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+|$)/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const LINE_BREAKS = /[\n\r\u2028\u2029]/;

/** An opening fence: its marker and language, or null. */
function fenceOf(line) {
  const m = FENCE.exec(line);
  if (!m || m[2].includes("`")) return null;
  return { fence: m[1], lang: /^\s*([^`\s]*)/.exec(m[2])[1] };
}

/** An ATX heading: its level and text (without a closing run of #'s), or null. */
function headingOf(line) {
  const m = HEADING.exec(line);
  if (!m) return null;
  const rest = line.slice(m[0].length);
  if (LINE_BREAKS.test(rest)) return null;
  const blank = (c) => c === " " || c === "\t";
  let end = rest.length;
  while (end > 0 && blank(rest[end - 1])) end--;
  let k = end;
  while (k > 0 && rest[k - 1] === "#") k--;
  // "# Title ##": the closing #'s go, with the space before them; "# C#" and "# ##" keep theirs.
  if (k < end && k > 0 && blank(rest[k - 1])) {
    end = k;
    while (end > 0 && blank(rest[end - 1])) end--;
  }
  return { level: m[1].length, text: rest.slice(0, end) };
}

/** A list item's line: its indent, its marker ("-", "3.") and its text, or null. */
function itemOf(line) {
  const m = ITEM.exec(line);
  if (!m) return null;
  const text = line.slice(m[0].length);
  return LINE_BREAKS.test(text) ? null : { indent: m[1].length, marker: m[2], text };
}

/** A table's delimiter row ("|:--|--:|"), checked by one pass over its characters. */
function isTableRule(line) {
  let s = 0;
  let e = line.length;
  while (s < e && line[s] === " ") s++;
  if (s < e && line[s] === "|") s++;
  while (e > s && line[e - 1] === " ") e--;
  if (e > s && line[e - 1] === "|") e--;
  let j = s;
  for (;;) {
    while (j < e && line[j] === " ") j++;
    if (j < e && line[j] === ":") j++;
    const dashes = j;
    while (j < e && line[j] === "-") j++;
    if (j === dashes) return false;
    if (j < e && line[j] === ":") j++;
    while (j < e && line[j] === " ") j++;
    if (j === e) return true;
    if (line[j] !== "|") return false;
    j++;
  }
}

/** An http(s) address as a link may use it, or null (javascript:, data:, relative paths…). */
export function safeHref(raw) {
  const url = String(raw || "").trim();
  if (!/^https?:\/\/[^\s]+$/i.test(url)) return null;
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

const ESCAPABLE = /[\\`*_{}[\]()#+\-.!|>~<]/;
const BARE_URL = /^https?:\/\/[^\s<>()[\]]*[^\s<>()[\].,;:!?'"*_]/i;

/** Inline nodes of one block's text: text, strong, em, code, link, br. `depth`: how deep this text is nested. */
export function parseInline(src, depth = 0) {
  const out = [];
  let text = "";
  const flush = () => {
    if (text) out.push({ type: "text", text });
    text = "";
  };
  // Deeper than MAX_DEPTH, *, _ and [ are characters: a text cannot nest its way out of the stack.
  const nests = depth < MAX_DEPTH;
  // Where each delimiter's closer is, worked out once for the whole text when first needed (see closers below),
  // so that a thousand openers with no closer cost one pass, not a thousand.
  const emClose = {};
  const strongClose = {};
  let parens = null;
  const linkClose = nextIndex(src, "](");
  // Two, as each is asked about positions that only move forward: a label's start, and a target's.
  const labelNewline = nextIndex(src, "\n");
  const targetNewline = nextIndex(src, "\n");
  let tickMiss = Infinity; // no run of this many backticks is left: a longer opener has no closer either
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === "\\" && ESCAPABLE.test(src[i + 1] || "")) {
      text += src[i + 1];
      i += 2;
      continue;
    }
    if (c === "\n") {
      flush();
      out.push({ type: "br" });
      i++;
      continue;
    }
    if (c === "`") {
      let n = 1;
      while (src[i + n] === "`") n++;
      const fence = "`".repeat(n);
      const end = n >= tickMiss ? -1 : src.indexOf(fence, i + n);
      if (end > 0) {
        flush();
        out.push({ type: "code", text: src.slice(i + n, end).replace(/^ (.*) $/s, "$1") });
        i = end + n;
        continue;
      }
      tickMiss = Math.min(tickMiss, n);
      text += fence;
      i += n;
      continue;
    }
    if ((c === "*" || c === "_") && nests) {
      if (src[i + 1] === c && !(c === "_" && /\w/.test(src[i - 1] || ""))) {
        const end = (strongClose[c] ??= strongClosers(src, c))[i + 2];
        if (end > i + 2 && !/\s/.test(src[i + 2]) && !/\s/.test(src[end - 1])) {
          flush();
          out.push({ type: "strong", children: parseInline(src.slice(i + 2, end), depth + 1) });
          i = end + 2;
          continue;
        }
      }
      // _ inside a word (snake_case) is a character, not emphasis.
      const intraword = c === "_" && /\w/.test(src[i - 1] || "");
      const end = intraword ? -1 : (emClose[c] ??= emClosers(src, c))[i + 1];
      if (end > i + 1 && !/\s/.test(src[i + 1]) && !/\s/.test(src[end - 1])) {
        flush();
        out.push({ type: "em", children: parseInline(src.slice(i + 1, end), depth + 1) });
        i = end + 1;
        continue;
      }
    }
    if (c === "[" && nests) {
      const close = linkClose(i + 1);
      const nl = close > i ? labelNewline(i + 1) : -1;
      if (close > i && (nl < 0 || nl > close)) {
        // The ")" that closes the target (which may hold balanced parentheses), on the same line.
        const m = (parens ??= parenClosers(src))[close + 2];
        const nl2 = m > 0 ? targetNewline(close + 2) : -1;
        const paren = m > 0 && (nl2 < 0 || nl2 > m - 1) ? m - 1 : -1;
        if (paren > close) {
          const label = src.slice(i + 1, close);
          const target = src.slice(close + 2, paren).trim().replace(/^<(.*)>$/, "$1").split(/\s+/)[0];
          const href = safeHref(target);
          flush();
          // Not http(s) (javascript:, data:, a path): the label stays, as text, and no link is made.
          out.push(href ? { type: "link", href, children: parseInline(label, depth + 1) } : { type: "text", text: label });
          i = paren + 1;
          continue;
        }
      }
    }
    if ((c === "h" || c === "H") && !/\w/.test(src[i - 1] || "")) {
      const m = BARE_URL.exec(src.slice(i));
      const href = m && safeHref(m[0]);
      if (href) {
        flush();
        out.push({ type: "link", href, children: [{ type: "text", text: m[0] }] });
        i += m[0].length;
        continue;
      }
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

/**
 * src.indexOf(needle, from) for `from`s that never decrease, in one pass over src in all: an answer stays valid
 * until `from` passes it.
 */
function nextIndex(src, needle) {
  let from = -1;
  let at = -1;
  return (k) => {
    if (from < 0 || k < from || (at >= 0 && k > at)) {
      from = k;
      at = src.indexOf(needle, k);
    }
    return at;
  };
}

/**
 * For each position p, the end of the "**" or "__" that closes a strong span whose text starts at p, or -1: the
 * first pair at or after p ("__" only where a word ends, so my__var__name stays a name; a pair followed by a word
 * character is passed over and the search goes on two characters later).
 */
function strongClosers(src, ch) {
  const n = src.length;
  const pair = new Int32Array(n + 2).fill(-1); // the first pair at or after p
  for (let p = n - 2; p >= 0; p--) pair[p] = src[p] === ch && src[p + 1] === ch ? p : pair[p + 1];
  if (ch !== "_") return pair;
  const close = new Int32Array(n + 2).fill(-1);
  for (let p = n - 1; p >= 0; p--) {
    const q = pair[p];
    close[p] = q < 0 ? -1 : !/\w/.test(src[q + 2] || "") ? q : close[q + 2];
  }
  return close;
}

/**
 * For each position p, the single * or _ that closes an emphasis whose text starts at p, or -1: a lone marker
 * (not part of a pair), not escaped, before any blank line; a _ followed by a word character does not close.
 */
function emClosers(src, ch) {
  const n = src.length;
  const close = new Int32Array(n + 2).fill(-1);
  for (let j = n - 1; j >= 0; j--) {
    if (src[j] === "\\") close[j] = close[j + 2];
    else if (src[j] === "\n" && src[j + 1] === "\n") close[j] = -1;
    else if (src[j] === ch && src[j + 1] !== ch && src[j - 1] !== ch && !(ch === "_" && /\w/.test(src[j + 1] || ""))) close[j] = j;
    else close[j] = close[j + 1];
  }
  return close;
}

/**
 * For each position p, one past the ")" that closes a link target starting at p (parentheses inside it balanced),
 * or -1: the first point after p where more ")" than "(" have been seen since p, found for all p at once from
 * the running balance with a stack. (Whether a line ends first is the caller's to check.)
 */
function parenClosers(src) {
  const n = src.length;
  const balance = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) balance[k + 1] = balance[k] + (src[k] === "(" ? 1 : src[k] === ")" ? -1 : 0);
  const next = new Int32Array(n + 1).fill(-1);
  const stack = new Int32Array(n + 1);
  let top = 0;
  for (let k = n; k >= 0; k--) {
    while (top > 0 && balance[stack[top - 1]] >= balance[k]) top--;
    if (top > 0) next[k] = stack[top - 1];
    stack[top++] = k;
  }
  return next;
}

function cells(line) {
  let t = line.trim();
  if (t.startsWith("|")) t = t.slice(1);
  if (t.endsWith("|") && !t.endsWith("\\|")) t = t.slice(0, -1);
  const out = [];
  let cur = "";
  for (let i = 0; i < t.length; i++) {
    if (t[i] === "\\" && t[i + 1] === "|") {
      cur += "|";
      i++;
    } else if (t[i] === "|") {
      out.push(cur.trim());
      cur = "";
    } else cur += t[i];
  }
  out.push(cur.trim());
  return out;
}

function startsBlock(line, next, depth) {
  const nests = depth < MAX_DEPTH;
  return (
    fenceOf(line) !== null ||
    headingOf(line) !== null ||
    RULE.test(line) ||
    (nests && itemOf(line) !== null) ||
    (nests && QUOTE.test(line)) ||
    (line.includes("|") && next !== undefined && isTableRule(next) && next.includes("-"))
  );
}

/** Block nodes: heading, paragraph, code, list, table, quote, rule. `limit`: how much is read as Markdown. */
export function parseMarkdown(src, { limit = MAX_MARKDOWN } = {}) {
  let text = String(src ?? "").replace(/\r\n?/g, "\n");
  let rest = "";
  if (text.length > limit) {
    // Past the limit, plain text, from the start of a line when there is one in the second half.
    let cut = text.lastIndexOf("\n", limit);
    if (cut > limit / 2) rest = text.slice(cut + 1);
    else {
      cut = limit;
      const code = text.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut--; // not between the halves of a surrogate pair
      rest = text.slice(cut);
    }
    text = text.slice(0, cut);
  }
  const blocks = parseBlocks(text.split("\n"), 0);
  if (rest) {
    const children = [];
    rest.split("\n").forEach((line, k) => {
      if (k) children.push({ type: "br" });
      if (line) children.push({ type: "text", text: line });
    });
    blocks.push({ type: "paragraph", children });
  }
  return blocks;
}

function parseBlocks(lines, depth) {
  const nests = depth < MAX_DEPTH;
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const open = fenceOf(line);
    if (open) {
      const { fence } = open;
      const body = [];
      i++;
      while (i < lines.length && !(lines[i].trim().startsWith(fence[0].repeat(fence.length)) && !lines[i].trim().replace(new RegExp(`^\\${fence[0]}+`), "").trim())) {
        body.push(lines[i]);
        i++;
      }
      i++; // the closing fence (or the end: an unclosed block runs to the end)
      blocks.push({ type: "code", lang: open.lang, text: body.join("\n") });
      continue;
    }
    const heading = headingOf(line);
    if (heading) {
      blocks.push({ type: "heading", level: heading.level, children: parseInline(heading.text) });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ type: "rule" });
      i++;
      continue;
    }
    if (nests && QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(QUOTE.exec(lines[i++])[1]);
      blocks.push({ type: "quote", children: parseBlocks(body, depth + 1) });
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && isTableRule(lines[i + 1]) && lines[i + 1].includes("-")) {
      const header = cells(line);
      const align = cells(lines[i + 1]).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : null));
      i += 2;
      const rows = [];
      // Rows shorter than the header are filled out to its width: a budget of cells keeps a few hundred "|" lines
      // under a header of thousands of columns from growing into millions of cells. The rows past it are text.
      let budget = MAX_TABLE_CELLS - header.length;
      while (i < lines.length && lines[i].trim() && lines[i].includes("|") && (budget -= header.length) >= 0) rows.push(cells(lines[i++]));
      blocks.push({
        type: "table",
        align: header.map((_, k) => align[k] || null),
        header: header.map((c) => parseInline(c)),
        rows: rows.map((r) => header.map((_, k) => parseInline(r[k] || ""))),
      });
      continue;
    }
    const first = nests ? itemOf(line) : null;
    if (first) {
      const ordered = /\d/.test(first.marker);
      const { indent } = first;
      const list = { type: "list", ordered, start: ordered ? parseInt(first.marker, 10) : 1, items: [] };
      while (i < lines.length) {
        const im = itemOf(lines[i]);
        if (!im || im.indent !== indent || /\d/.test(im.marker) !== ordered) break;
        const body = [im.text];
        const inner = indent + im.marker.length + 1;
        i++;
        // Its continuation: indented lines (a nested list, more text), and blank lines between them.
        while (i < lines.length) {
          const l = lines[i];
          const lead = l.length - l.trimStart().length;
          if (l.trim() && lead > indent) body.push(l.slice(Math.min(lead, inner)));
          else if (!l.trim() && i + 1 < lines.length && lines[i + 1].trim() && lines[i + 1].length - lines[i + 1].trimStart().length > indent) body.push("");
          else if (l.trim() && !startsBlock(l, lines[i + 1], depth) && body.at(-1).trim()) body.push(l); // a wrapped line
          else break;
          i++;
        }
        list.items.push(parseItem(body, depth));
        while (i < lines.length && !lines[i].trim() && i + 1 < lines.length && itemOf(lines[i + 1])?.indent === indent) i++;
      }
      blocks.push(list);
      continue;
    }
    const para = [line];
    i++;
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i], lines[i + 1], depth)) para.push(lines[i++]);
    blocks.push({ type: "paragraph", children: parseInline(para.map((l) => l.trim()).join("\n")) });
  }
  return blocks;
}

/** A list item: its first text inline, then any nested blocks (a sub-list). */
function parseItem(body, depth) {
  let n = 1;
  while (n < body.length && body[n].trim() && !itemOf(body[n]) && !fenceOf(body[n])) n++;
  const text = body.slice(0, n).map((l) => l.trim()).join("\n");
  return { children: parseInline(text), blocks: parseBlocks(body.slice(n), depth + 1) };
}

// ---------------------------------------------------------------- rendering

function inlineNodes(nodes, h) {
  return nodes.map((n) => {
    switch (n.type) {
      case "text":
        return n.text;
      case "br":
        return h("br", {});
      case "code":
        return h("code", {}, n.text);
      case "strong":
        return h("strong", {}, inlineNodes(n.children, h));
      case "em":
        return h("em", {}, inlineNodes(n.children, h));
      case "link":
        return h("a", { href: n.href, target: "_blank", rel: "noopener noreferrer" }, inlineNodes(n.children, h));
      default:
        return "";
    }
  });
}

function blockNodes(blocks, h) {
  return blocks.map((b) => {
    switch (b.type) {
      case "heading":
        // Headings inside a card stay small: # is a card heading, not a page title.
        return h(`h${Math.min(6, b.level + 2)}`, { class: "md-h" }, inlineNodes(b.children, h));
      case "paragraph":
        return h("p", {}, inlineNodes(b.children, h));
      case "code":
        return h("pre", { class: "md-code", tabindex: "0" }, h("code", {}, b.text));
      case "rule":
        return h("hr", {});
      case "quote":
        return h("blockquote", {}, blockNodes(b.children, h));
      case "list":
        return h(
          b.ordered ? "ol" : "ul",
          b.ordered && b.start !== 1 ? { start: String(b.start) } : {},
          b.items.map((it) => h("li", {}, inlineNodes(it.children, h), blockNodes(it.blocks, h))),
        );
      case "table": {
        const cell = (tag, content, k) => h(tag, b.align[k] ? { style: `text-align:${b.align[k]}` } : {}, inlineNodes(content, h));
        return h(
          "div",
          { class: "md-table", tabindex: "0" },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, b.header.map((c, k) => cell("th", c, k)))),
            h("tbody", {}, b.rows.map((r) => h("tr", {}, r.map((c, k) => cell("td", c, k))))),
          ),
        );
      }
      default:
        return "";
    }
  });
}

/** DOM nodes for `src`, built with `h(tag, attrs, ...children)`; strings among children are text nodes. */
export function renderMarkdown(src, h) {
  return blockNodes(parseMarkdown(src), h);
}
