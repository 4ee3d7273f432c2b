import test from "node:test";
import assert from "node:assert/strict";
import { parseMarkdown, parseInline, renderMarkdown, safeHref } from "../../contop/web/js/markdown.js";

// A stand-in for ui/dom.js's h: plain objects, so what the renderer builds can be inspected without a DOM.
const h = (tag, attrs = {}, ...children) => ({ tag, attrs: { ...attrs }, children: children.flat(Infinity).filter((c) => c !== "" && c != null) });
const ALLOWED = new Set(["p", "br", "strong", "em", "code", "pre", "a", "ul", "ol", "li", "h3", "h4", "h5", "h6", "hr", "blockquote", "div", "table", "thead", "tbody", "tr", "th", "td"]);
const ATTRS = new Set(["class", "href", "target", "rel", "tabindex", "start", "style"]);

function walk(nodes, fn) {
  for (const n of nodes) {
    if (typeof n === "string") continue;
    fn(n);
    walk(n.children, fn);
  }
}
const render = (src) => renderMarkdown(src, h);
const text = (nodes) => nodes.map((n) => (typeof n === "string" ? n : text(n.children))).join("");
const tags = (nodes) => {
  const out = [];
  walk(nodes, (n) => out.push(n.tag));
  return out;
};

test("bold, italic, inline code and links become elements, not asterisks", () => {
  const out = render("Use **bold**, *italic*, `ls -la` and [docs](https://example.com/a?b=1).");
  assert.deepEqual(tags(out), ["p", "strong", "em", "code", "a"]);
  assert.equal(text(out), "Use bold, italic, ls -la and docs.");
  let link;
  walk(out, (n) => n.tag === "a" && (link = n));
  assert.deepEqual(link.attrs, { href: "https://example.com/a?b=1", target: "_blank", rel: "noopener noreferrer" });
});

test("headings, fenced code, lists, tables, quotes and rules", () => {
  const md = [
    "# Title",
    "## Sub",
    "",
    "```bash",
    "echo **not bold**",
    "  indented <b>",
    "```",
    "",
    "- one",
    "- two",
    "  - nested",
    "",
    "3. three",
    "4. four",
    "",
    "| Name | Size |",
    "|:-----|-----:|",
    "| a.txt | 10 |",
    "",
    "> quoted",
    "",
    "---",
  ].join("\n");
  const blocks = parseMarkdown(md);
  assert.deepEqual(
    blocks.map((b) => b.type),
    ["heading", "heading", "code", "list", "list", "table", "quote", "rule"],
  );
  assert.equal(blocks[2].text, "echo **not bold**\n  indented <b>", "code is kept verbatim");
  assert.equal(blocks[2].lang, "bash");
  assert.equal(blocks[3].items.length, 2);
  assert.equal(blocks[3].items[1].blocks[0].type, "list", "an indented item is a nested list");
  assert.equal(blocks[4].ordered, true);
  assert.equal(blocks[4].start, 3);
  assert.deepEqual(blocks[5].align, ["left", "right"]);
  const out = render(md);
  assert.deepEqual(out.map((n) => n.tag), ["h3", "h4", "pre", "ul", "ol", "div", "blockquote", "hr"]);
  assert.equal(out[2].attrs.class, "md-code");
  assert.equal(out[5].attrs.class, "md-table", "a table scrolls sideways in its own box");
});

test("plain text keeps its line breaks and snake_case words", () => {
  const out = render("line one\nline two with my_file_name.txt and 5 * 3 * 2");
  assert.deepEqual(tags(out), ["p", "br"]);
  assert.equal(text(out), "line oneline two with my_file_name.txt and 5 * 3 * 2");
});

test("raw HTML is text: script tags and onerror attributes never become elements", () => {
  const src = '<script>alert(1)</script>\n<img src=x onerror="alert(2)">\n**<b onclick="x()">hi</b>**\n```\n<script>bad()</script>\n```';
  const out = render(src);
  walk(out, (n) => {
    assert.ok(ALLOWED.has(n.tag), `unexpected element ${n.tag}`);
    for (const k of Object.keys(n.attrs)) {
      assert.ok(ATTRS.has(k), `unexpected attribute ${k}`);
      assert.ok(!k.startsWith("on"), k);
    }
  });
  assert.ok(!tags(out).includes("script") && !tags(out).includes("img"));
  assert.match(text(out), /<script>alert\(1\)<\/script>/, "shown as the characters it is");
  assert.match(text(out), /onerror="alert\(2\)"/);
});

test("only http(s) links are made: javascript:, data: and other schemes stay text", () => {
  for (const bad of [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](vbscript:msgbox)",
    "[x](/relative/path)",
    "[x](file:///etc/passwd)",
    "javascript:alert(1)",
  ]) {
    const out = render(bad);
    assert.ok(!tags(out).includes("a"), `${bad} made a link`);
  }
  assert.equal(safeHref("https://a.example/x"), "https://a.example/x");
  assert.equal(safeHref("http://192.168.1.2:8000/"), "http://192.168.1.2:8000/");
  assert.equal(safeHref("javascript:alert(1)"), null);
  assert.equal(safeHref("https://a b"), null);
});

test("a bare http(s) address becomes a link without the sentence's punctuation", () => {
  const inline = parseInline("See https://example.com/docs. Then go.");
  assert.equal(inline[1].type, "link");
  assert.equal(inline[1].href, "https://example.com/docs");
  assert.equal(inline[2].text, ". Then go.");
});

test("an unclosed fence (a streaming answer) is code to the end; unmatched markers stay as typed", () => {
  const blocks = parseMarkdown("Here:\n```\npartial");
  assert.deepEqual(blocks.map((b) => b.type), ["paragraph", "code"]);
  assert.equal(blocks[1].text, "partial");
  assert.equal(text(render("a ** b and `c")), "a ** b and `c");
});

test("double underscores inside names are not bold", () => {
  assert.equal(text(render("window.__pwned = 1 and my__var__name")), "window.__pwned = 1 and my__var__name");
  assert.deepEqual(tags(render("__bold__ text")), ["p", "strong"]);
});

test("a refused link leaves just its label, and a target may hold parentheses", () => {
  assert.equal(text(render("or [this](javascript:alert(1)).")), "or this.");
  const out = render("[wiki](https://en.wikipedia.org/wiki/Foo_(bar))");
  let link;
  walk(out, (n) => n.tag === "a" && (link = n));
  assert.equal(link.attrs.href, "https://en.wikipedia.org/wiki/Foo_(bar)");
});
