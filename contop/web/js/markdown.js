// A safe subset of Markdown for the agent's answers: headings, paragraphs, **bold**, *italic*, `code`, fenced code
// blocks, lists, tables, block quotes, rules and http(s) links. Raw HTML is never interpreted: the parser yields a
// tree of known node types whose text is only ever set as text, and renderMarkdown builds DOM nodes from it with
// the element builder it is given (h from ui/dom.js), never with innerHTML. A link that is not http(s) is text.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const TABLE_RULE = /^ *\|? *:?-+:? *(?:\| *:?-+:? *)*\|? *$/;

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

/** Inline nodes of one block's text: text, strong, em, code, link, br. */
export function parseInline(src) {
  const out = [];
  let text = "";
  const flush = () => {
    if (text) out.push({ type: "text", text });
    text = "";
  };
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
      const end = src.indexOf(fence, i + n);
      if (end > 0) {
        flush();
        out.push({ type: "code", text: src.slice(i + n, end).replace(/^ (.*) $/s, "$1") });
        i = end + n;
        continue;
      }
      text += fence;
      i += n;
      continue;
    }
    if ((c === "*" || c === "_") && src[i + 1] === c && !(c === "_" && /\w/.test(src[i - 1] || ""))) {
      let end = src.indexOf(c + c, i + 2);
      // __ closes only at a word's end (my__var__name is a name, not bold).
      while (c === "_" && end > 0 && /\w/.test(src[end + 2] || "")) end = src.indexOf(c + c, end + 2);
      if (end > i + 2 && !/\s/.test(src[i + 2]) && !/\s/.test(src[end - 1])) {
        flush();
        out.push({ type: "strong", children: parseInline(src.slice(i + 2, end)) });
        i = end + 2;
        continue;
      }
    }
    if (c === "*" || c === "_") {
      // _ inside a word (snake_case) is a character, not emphasis.
      const intraword = c === "_" && /\w/.test(src[i - 1] || "");
      const end = findClosing(src, c, i + 1);
      if (!intraword && end > i + 1 && !/\s/.test(src[i + 1]) && !/\s/.test(src[end - 1])) {
        flush();
        out.push({ type: "em", children: parseInline(src.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    if (c === "[") {
      const close = src.indexOf("](", i + 1);
      const paren = close > i ? closingParen(src, close + 2) : -1;
      if (close > i && paren > close && !src.slice(i + 1, close).includes("\n")) {
        const label = src.slice(i + 1, close);
        const target = src.slice(close + 2, paren).trim().replace(/^<(.*)>$/, "$1").split(/\s+/)[0];
        const href = safeHref(target);
        flush();
        // Not http(s) (javascript:, data:, a path): the label stays, as text, and no link is made.
        out.push(href ? { type: "link", href, children: parseInline(label) } : { type: "text", text: label });
        i = paren + 1;
        continue;
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

/** The ")" that closes a link target starting at `from` (a target may hold balanced parentheses). */
function closingParen(src, from) {
  let depth = 0;
  for (let j = from; j < src.length; j++) {
    if (src[j] === "\n") return -1;
    if (src[j] === "(") depth++;
    else if (src[j] === ")" && depth-- === 0) return j;
  }
  return -1;
}

function findClosing(src, ch, from) {
  for (let j = from; j < src.length; j++) {
    if (src[j] === "\\") j++;
    else if (src[j] === "\n" && src[j + 1] === "\n") return -1;
    else if (src[j] === ch && src[j + 1] !== ch && src[j - 1] !== ch) {
      if (ch === "_" && /\w/.test(src[j + 1] || "")) continue;
      return j;
    }
  }
  return -1;
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

function startsBlock(line, next) {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    ITEM.test(line) ||
    QUOTE.test(line) ||
    (line.includes("|") && next !== undefined && TABLE_RULE.test(next) && next.includes("-"))
  );
}

/** Block nodes: heading, paragraph, code, list, table, quote, rule. */
export function parseMarkdown(src) {
  const lines = String(src ?? "").replace(/\r\n?/g, "\n").split("\n");
  return parseBlocks(lines);
}

function parseBlocks(lines) {
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    let m = FENCE.exec(line);
    if (m) {
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !(lines[i].trim().startsWith(fence[0].repeat(fence.length)) && !lines[i].trim().replace(new RegExp(`^\\${fence[0]}+`), "").trim())) {
        body.push(lines[i]);
        i++;
      }
      i++; // the closing fence (or the end: an unclosed block runs to the end)
      blocks.push({ type: "code", lang: m[2] || "", text: body.join("\n") });
      continue;
    }
    m = HEADING.exec(line);
    if (m) {
      blocks.push({ type: "heading", level: m[1].length, children: parseInline(m[2] || "") });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ type: "rule" });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(QUOTE.exec(lines[i++])[1]);
      blocks.push({ type: "quote", children: parseBlocks(body) });
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      const header = cells(line);
      const align = cells(lines[i + 1]).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : null));
      i += 2;
      const rows = [];
      while (i < lines.length && lines[i].trim() && lines[i].includes("|")) rows.push(cells(lines[i++]));
      blocks.push({
        type: "table",
        align: header.map((_, k) => align[k] || null),
        header: header.map(parseInline),
        rows: rows.map((r) => header.map((_, k) => parseInline(r[k] || ""))),
      });
      continue;
    }
    m = ITEM.exec(line);
    if (m) {
      const ordered = /\d/.test(m[2]);
      const indent = m[1].length;
      const list = { type: "list", ordered, start: ordered ? parseInt(m[2], 10) : 1, items: [] };
      while (i < lines.length) {
        const im = ITEM.exec(lines[i]);
        if (!im || im[1].length !== indent || /\d/.test(im[2]) !== ordered) break;
        const body = [im[3] || ""];
        const inner = indent + im[2].length + 1;
        i++;
        // Its continuation: indented lines (a nested list, more text), and blank lines between them.
        while (i < lines.length) {
          const l = lines[i];
          const lead = l.length - l.trimStart().length;
          if (l.trim() && lead > indent) body.push(l.slice(Math.min(lead, inner)));
          else if (!l.trim() && i + 1 < lines.length && lines[i + 1].trim() && lines[i + 1].length - lines[i + 1].trimStart().length > indent) body.push("");
          else if (l.trim() && !startsBlock(l, lines[i + 1]) && body.at(-1).trim()) body.push(l); // a wrapped line
          else break;
          i++;
        }
        list.items.push(parseItem(body));
        while (i < lines.length && !lines[i].trim() && i + 1 < lines.length && ITEM.test(lines[i + 1]) && ITEM.exec(lines[i + 1])[1].length === indent) i++;
      }
      blocks.push(list);
      continue;
    }
    const para = [line];
    i++;
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i], lines[i + 1])) para.push(lines[i++]);
    blocks.push({ type: "paragraph", children: parseInline(para.map((l) => l.trim()).join("\n")) });
  }
  return blocks;
}

/** A list item: its first text inline, then any nested blocks (a sub-list). */
function parseItem(body) {
  let n = 1;
  while (n < body.length && body[n].trim() && !ITEM.test(body[n]) && !FENCE.test(body[n])) n++;
  const text = body.slice(0, n).map((l) => l.trim()).join("\n");
  return { children: parseInline(text), blocks: parseBlocks(body.slice(n)) };
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
