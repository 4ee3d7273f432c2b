import test from "node:test";
import assert from "node:assert/strict";
import * as markdown from "../../contop/web/js/markdown.js";

const { parseMarkdown, parseInline, renderMarkdown } = markdown;
const { MAX_DEPTH = 16, MAX_MARKDOWN = 20000, MAX_TABLE_CELLS = 10000 } = markdown;

// The agent's answer is whatever a model wrote (and a model writes what it read): the renderer must stay fast and
// must not throw on text built to hurt it. Each input below took seconds to minutes, or overflowed the stack.

const h = (tag, attrs = {}, ...children) => ({ tag, attrs: { ...attrs }, children: children.flat(Infinity).filter((c) => c !== "" && c != null) });
const render = (src) => renderMarkdown(src, h);
const text = (nodes) => nodes.map((n) => (typeof n === "string" ? n : text(n.children))).join("");
const KB100 = 100_000;
// A behaviour check, not a benchmark: linear work is a few milliseconds here, the old quadratic work was seconds.
const BOUND_MS = 2000;

function timed(fn) {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function depthOf(nodes) {
  let max = 0;
  for (const n of nodes) if (typeof n !== "string") max = Math.max(max, 1 + depthOf(n.children));
  return max;
}

const PATHOLOGICAL = {
  "underscore pairs that never close": () => " __a".repeat(KB100 / 4),
  "a heading line of spaces": () => "# a" + " ".repeat(KB100) + "x",
  "a table row of spaces under a pipe": () => "a|b\n" + " ".repeat(KB100) + "x",
  "a run of asterisks": () => "a" + "*".repeat(KB100),
  "a run of underscores (nested strong)": () => "a " + "_".repeat(KB100),
  "link openers that never close": () => "[a](".repeat(KB100 / 4),
  "an unclosed fence line": () => "```" + "a".repeat(KB100) + "`",
  "a list item ending in a line separator": () => "- " + " ".repeat(KB100) + "\u2028",
  "a wide header over many short rows": () => "|".repeat(KB100 / 8) + "\n" + "-|".repeat(KB100 / 8) + "\n" + "|\n".repeat(KB100 / 4),
};

for (const [name, make] of Object.entries(PATHOLOGICAL)) {
  test(`100 KB of ${name} renders in well under a second`, () => {
    const src = make();
    assert.ok(src.length >= KB100 * 0.8, `${src.length} characters`);
    const ms = timed(() => render(src));
    assert.ok(ms < BOUND_MS, `${name}: ${ms.toFixed(0)} ms`);
  });
}

test("the parsing itself is linear: 100 KB with no Markdown limit stays fast, lines and inline text alike", () => {
  for (const [name, make] of Object.entries(PATHOLOGICAL)) {
    const src = make();
    const ms = timed(() => parseMarkdown(src, { limit: Infinity }));
    assert.ok(ms < BOUND_MS, `${name}: ${ms.toFixed(0)} ms`);
    const inline = timed(() => parseInline(src));
    assert.ok(inline < BOUND_MS, `${name} (inline): ${inline.toFixed(0)} ms`);
  }
});

test("a streaming answer redrawn after every 40 characters stays fast", () => {
  const src = " __a".repeat(2000); // 8 KB
  const ms = timed(() => {
    for (let k = 40; k <= src.length; k += 40) render(src.slice(0, k));
  });
  assert.ok(ms < BOUND_MS, `${ms.toFixed(0)} ms`);
});

test("nesting 5,000 deep renders without overflowing the stack, the markers past the limit kept as text", () => {
  const deep = {
    quotes: ">".repeat(5000) + " deep",
    "quotes with spaces": "> ".repeat(5000) + "deep",
    "strong in strong (a run of underscores)": "a " + "_".repeat(16000),
    "emphasis and strong": "*a ".repeat(5000) + "b" + " c*".repeat(5000) + "**a ".repeat(5000) + "b" + " c**".repeat(5000),
    links: "[".repeat(5000) + "x" + "](https://a.example)".repeat(5000),
    "indented list": Array.from({ length: 5000 }, (_, k) => " ".repeat(k) + "- a").join("\n"),
    "quoted lists": "> - ".repeat(5000) + "deep",
  };
  for (const [name, src] of Object.entries(deep)) {
    let out;
    assert.doesNotThrow(() => (out = render(src)), name);
    assert.ok(depthOf(out) <= 4 * MAX_DEPTH + 8, `${name}: ${depthOf(out)} elements deep`);
  }
  const quotes = parseMarkdown(">".repeat(5000) + " deep");
  let level = 0;
  let b = quotes[0];
  while (b.type === "quote") {
    level++;
    b = b.children[0];
  }
  assert.equal(level, MAX_DEPTH, "quotes nest to the limit");
  assert.equal(text(render(">".repeat(5000) + " deep")), ">".repeat(5000 - MAX_DEPTH) + " deep", "the rest are text");
  const list = parseMarkdown(Array.from({ length: 5000 }, (_, k) => " ".repeat(k) + "- a").join("\n"));
  const listDepth = (blocks) => Math.max(0, ...blocks.filter((b) => b.type === "list").map((b) => 1 + Math.max(...b.items.map((it) => listDepth(it.blocks)))));
  assert.equal(listDepth(list), MAX_DEPTH, "lists nest to the limit, the deeper items being text");
});

test(`past ${MAX_MARKDOWN} characters the text is plain, from the start of a line, and none of it is lost`, () => {
  const line = "Some **bold** and a [link](https://a.example).";
  const src = Array.from({ length: Math.ceil((MAX_MARKDOWN * 2) / (line.length + 1)) }, () => line).join("\n");
  const blocks = parseMarkdown(src);
  const tail = blocks.at(-1);
  assert.equal(tail.type, "paragraph");
  assert.ok(tail.children.every((n) => n.type === "text" || n.type === "br"), "the tail is text and line breaks");
  assert.ok(tail.children[0].text.startsWith("Some **bold**"), "cut at a line's start");
  assert.equal(blocks.length, 2);
  assert.ok(blocks[0].children.some((n) => n.type === "strong"), "the start is still Markdown");
  const cut = src.lastIndexOf("\n", MAX_MARKDOWN);
  assert.equal(tail.children.map((n) => (n.type === "br" ? "\n" : n.text)).join(""), src.slice(cut + 1));
  // One long line is cut at the limit, not in the middle of a surrogate pair.
  const emoji = "a" + "\u{1F600}".repeat(MAX_MARKDOWN);
  assert.equal(text(render(emoji)), emoji);
});

test("a table stops at its cell budget; the rows past it stay as text", () => {
  const src = "|".repeat(2000) + "\n" + "-|".repeat(2000) + "\n" + "x|\n".repeat(3000);
  const table = parseMarkdown(src)[0];
  assert.equal(table.type, "table");
  const cells = table.header.length * (table.rows.length + 1);
  assert.ok(cells <= MAX_TABLE_CELLS, `${cells} cells`);
  assert.ok(table.rows.length > 0);
  assert.equal(parseMarkdown("| a | b |\n|---|---|\n" + "| 1 | 2 |\n".repeat(1000))[0].rows.length, 1000, "an ordinary table is whole");
});

// Outputs of the parser before it was made linear: the rewritten line checks read ordinary text as before.
const BEFORE = [
  ["# Title ##", [{"type":"heading","level":1,"children":[{"type":"text","text":"Title"}]}]],
  ["# C#", [{"type":"heading","level":1,"children":[{"type":"text","text":"C#"}]}]],
  ["#5", [{"type":"paragraph","children":[{"type":"text","text":"#5"}]}]],
  ["####### x", [{"type":"paragraph","children":[{"type":"text","text":"####### x"}]}]],
  ["# #", [{"type":"heading","level":1,"children":[{"type":"text","text":"#"}]}]],
  ["### a # b ###  ", [{"type":"heading","level":3,"children":[{"type":"text","text":"a # b"}]}]],
  ["#\tx\t#", [{"type":"heading","level":1,"children":[{"type":"text","text":"x"}]}]],
  ["a|b\n--- | ---", [{"type":"table","align":[null,null],"header":[[{"type":"text","text":"a"}],[{"type":"text","text":"b"}]],"rows":[]}]],
  ["a|b\n|:-|-:|", [{"type":"table","align":["left","right"],"header":[[{"type":"text","text":"a"}],[{"type":"text","text":"b"}]],"rows":[]}]],
  ["a|b\n|a|", [{"type":"paragraph","children":[{"type":"text","text":"a|b"},{"type":"br"},{"type":"text","text":"|a|"}]}]],
  ["a|b\n|-||", [{"type":"paragraph","children":[{"type":"text","text":"a|b"},{"type":"br"},{"type":"text","text":"|-||"}]}]],
  ["a|b\n||-", [{"type":"paragraph","children":[{"type":"text","text":"a|b"},{"type":"br"},{"type":"text","text":"||-"}]}]],
  ["```js\nx\n```", [{"type":"code","lang":"js","text":"x"}]],
  ["~~~ py x\ny\n~~~", [{"type":"code","lang":"py","text":"y"}]],
  ["```a```", [{"type":"paragraph","children":[{"type":"code","text":"a"}]}]],
  ["~~~ a`b\nq", [{"type":"paragraph","children":[{"type":"text","text":"~~~ a`b"},{"type":"br"},{"type":"text","text":"q"}]}]],
  ["- a\u2028b", [{"type":"paragraph","children":[{"type":"text","text":"- a\u2028b"}]}]],
  ["1. one\n2) two", [{"type":"list","ordered":true,"start":1,"items":[{"children":[{"type":"text","text":"one"}],"blocks":[]},{"children":[{"type":"text","text":"two"}],"blocks":[]}]}]],
  ["> a\n>> b", [{"type":"quote","children":[{"type":"paragraph","children":[{"type":"text","text":"a"}]},{"type":"quote","children":[{"type":"paragraph","children":[{"type":"text","text":"b"}]}]}]}]],
  ["**a *b* c** and _d_ and __e__", [{"type":"paragraph","children":[{"type":"strong","children":[{"type":"text","text":"a "},{"type":"em","children":[{"type":"text","text":"b"}]},{"type":"text","text":" c"}]},{"type":"text","text":" and "},{"type":"em","children":[{"type":"text","text":"d"}]},{"type":"text","text":" and "},{"type":"strong","children":[{"type":"text","text":"e"}]}]}]],
  ["[a [b](https://x.y/(z)) c](https://q.r)", [{"type":"paragraph","children":[{"type":"link","href":"https://x.y/(z)","children":[{"type":"text","text":"a [b"}]},{"type":"text","text":" c]("},{"type":"link","href":"https://q.r/","children":[{"type":"text","text":"https://q.r"}]},{"type":"text","text":")"}]}]],
];

test("headings, table rules, fences and list items read as they did before the rewrite", () => {
  for (const [src, blocks] of BEFORE) assert.deepEqual(parseMarkdown(src), blocks, JSON.stringify(src));
});
