import test from "node:test";
import assert from "node:assert/strict";

// The thread view against a small stand-in for the DOM: just what ui/dom.js's h and the view itself use.
let failTags = new Set(); // tags whose creation throws, to stand for a renderer failing partway
let kindsDrawn = []; // the data-kind of each entry element built

class FakeNode {
  parentNode = null;
  remove() {
    if (!this.parentNode) return;
    const siblings = this.parentNode.childNodes;
    siblings.splice(siblings.indexOf(this), 1);
    this.parentNode = null;
  }
  after(node) {
    const parent = this.parentNode;
    node.remove();
    parent.childNodes.splice(parent.childNodes.indexOf(this) + 1, 0, node);
    node.parentNode = parent;
  }
  replaceWith(node) {
    const parent = this.parentNode;
    node.remove();
    parent.childNodes[parent.childNodes.indexOf(this)] = node;
    node.parentNode = parent;
    this.parentNode = null;
  }
}

class FakeText extends FakeNode {
  constructor(data) {
    super();
    this.data = data;
  }
  get textContent() {
    return this.data;
  }
}

class FakeElement extends FakeNode {
  constructor(tag) {
    super();
    this.tagName = tag;
    this.childNodes = [];
    this.attributes = {};
    this.dataset = {};
    this.className = "";
    this.hidden = false;
  }
  setAttribute(k, v) {
    this.attributes[k] = String(v);
    if (k === "data-kind") kindsDrawn.push(v);
  }
  append(...nodes) {
    for (const n of nodes) {
      const node = n instanceof FakeNode ? n : new FakeText(String(n));
      node.remove();
      node.parentNode = this;
      this.childNodes.push(node);
    }
  }
  addEventListener() {}
  scrollTo() {}
  querySelector() {
    return null;
  }
  set innerHTML(_) {
    this.childNodes = [];
    this.append(new FakeElement("svg"));
  }
  get firstChild() {
    return this.childNodes[0] ?? null;
  }
  get lastElementChild() {
    return this.childNodes.filter((c) => c instanceof FakeElement).at(-1) ?? null;
  }
  get textContent() {
    return this.childNodes.map((c) => c.textContent).join("");
  }
  /** Descendants with this tag. */
  find(tag) {
    const out = [];
    for (const c of this.childNodes) {
      if (!(c instanceof FakeElement)) continue;
      if (c.tagName === tag) out.push(c);
      out.push(...c.find(tag));
    }
    return out;
  }
}

globalThis.Node = FakeNode;
globalThis.document = {
  createElement(tag) {
    if (failTags.has(tag)) throw new Error(`cannot make a ${tag}`);
    return new FakeElement(tag);
  },
  createTextNode: (t) => new FakeText(t),
};
globalThis.requestAnimationFrame = () => 0;

const { createThreadView, STREAM_REDRAW_MS } = await import("../../contop/web/js/ui/thread.js");

function view() {
  const container = new FakeElement("div");
  const empty = new FakeElement("div");
  container.append(empty);
  const thread = createThreadView(container, empty, new FakeElement("button"));
  /** The element of each entry, in order. */
  const shown = () => container.childNodes.filter((c) => c.dataset.id !== undefined);
  return { thread, shown };
}

test("an entry that fails to render leaves the rest of the thread rendered", (t) => {
  t.mock.method(console, "error", () => {});
  failTags = new Set();
  const { thread, shown } = view();
  const entries = [
    { id: "u1", rev: 1, kind: "user", text: "hi" },
    // Text that throws as soon as it is read: the renderer's own fallback fails as well.
    { id: "t1", rev: 1, kind: "text", text: { toString: () => { throw new Error("boom"); } } },
    { id: "t2", rev: 1, kind: "text", text: ">".repeat(5000) + " deep" },
    { id: "t3", rev: 1, kind: "text", text: "the **end**" },
  ];
  assert.doesNotThrow(() => thread.render(entries));
  assert.deepEqual(shown().map((el) => el.dataset.id), ["u1", "t1", "t2", "t3"]);
  assert.equal(shown()[0].textContent, "hi");
  assert.ok(shown()[2].find("blockquote").length > 0, "deep quotes render");
  assert.equal(shown()[3].find("strong")[0]?.textContent, "end", "the entry after the failure is rendered");
  // A later change to a good entry still renders: the view was not left half-way.
  entries[3] = { ...entries[3], rev: 2, text: "the *new* end" };
  thread.render(entries);
  assert.equal(shown()[3].find("em")[0]?.textContent, "new");
});

test("when the Markdown renderer fails, the text is shown as it is, as a plain paragraph", (t) => {
  t.mock.method(console, "error", () => {});
  failTags = new Set(["blockquote"]);
  try {
    const { thread, shown } = view();
    thread.render([
      { id: "a", rev: 1, kind: "text", text: "> quoted *x*" },
      { id: "b", rev: 1, kind: "result", status: "completed", answer: "plain **b**" },
    ]);
    const [a, b] = shown();
    assert.equal(a.find("p").length, 1);
    assert.equal(a.find("p")[0].textContent, "> quoted *x*");
    assert.equal(b.find("strong")[0]?.textContent, "b");
  } finally {
    failTags = new Set();
  }
});

test(`a streaming answer is redrawn at most every ${STREAM_REDRAW_MS} ms, and its final text at once`, (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const { thread, shown } = view();
  const entry = (rev, text, streaming = true) => [{ id: "s", rev, kind: "text", text, streaming }];
  thread.render(entry(1, "Hel"));
  assert.equal(shown()[0].textContent, "Hel", "the first text shows at once");
  thread.render(entry(2, "Hello **wor"));
  t.mock.timers.tick(STREAM_REDRAW_MS / 2);
  thread.render(entry(3, "Hello **world**"));
  assert.equal(shown()[0].textContent, "Hel", "text arriving within the interval waits");
  t.mock.timers.tick(STREAM_REDRAW_MS / 2);
  assert.equal(shown()[0].textContent, "Hello world", "then the latest text is drawn");
  assert.equal(shown()[0].find("strong")[0]?.textContent, "world");

  // A long answer in 40-character pieces, all within one interval: drawn once more, not once per piece.
  kindsDrawn = [];
  const long = " __a".repeat(2000);
  for (let k = 40, rev = 4; k <= long.length; k += 40, rev++) thread.render(entry(rev, long.slice(0, k)));
  assert.ok(kindsDrawn.filter((k) => k === "text").length <= 1, `${kindsDrawn.length} redraws`);
  thread.render(entry(1000, long + " done", false));
  assert.equal(shown()[0].textContent, long.trim() + " done", "the finished answer is drawn at once, whole");
  assert.ok(!shown()[0].className.includes("streaming"));
});

test("a command or what the desktop says about one is drawn with bidi overrides and controls escaped", () => {
  failTags = new Set();
  const { thread, shown } = view();
  const spoof = "cp a b # \u202eevil\u202c";
  const seen = "cp a b # \\u202eevil\\u202c";
  thread.render([
    { id: "c", rev: 1, kind: "confirm", tool: "execute_cli", command: spoof, voiceMessage: `Run ${spoof}?`, reason: "destructive_command", decision: "approved" },
    { id: "c2", rev: 1, kind: "confirm", tool: "execute\u202e_cli", command: spoof, voiceMessage: "", reason: "x", decision: null },
    { id: "s", rev: 1, kind: "step", step: 1, tool: "execute_cli", status: "running", detail: `Running: ${spoof}` },
    { id: "d", rev: 1, kind: "step", step: 2, tool: "execute_cli", status: "completed", action: `Running: ${spoof}`, detail: `Ran ${spoof}\r` },
    { id: "t", rev: 1, kind: "tool_result", tool: "execute\u202e_cli", status: "success", stdout: "ok" },
    { id: "st", rev: 1, kind: "status", statusType: "sandbox_fallback", message: `Sandboxed: ${spoof}` },
    { id: "al", rev: 1, kind: "alert", message: `Blocked ${spoof}` },
    { id: "er", rev: 1, kind: "error", code: "invalid_payload", text: `Refused ${spoof}` },
    { id: "p", rev: 1, kind: "confirm", tool: "plan", reason: "plan_approval", voiceMessage: "Follow this plan?", command: `1. ${spoof}`, decision: null },
  ]);
  const [confirm, unnamed, running, done, result, status, alert, error, plan] = shown();
  assert.ok(confirm.textContent.includes(`Run ${seen}?`), confirm.textContent);
  assert.ok(unnamed.textContent.includes(`Approval for execute\\u202e_cli${seen}`), unnamed.textContent);
  assert.ok(running.textContent.includes(`Running: ${seen}`), running.textContent);
  assert.ok(done.textContent.includes(seen) && done.textContent.includes(`Ran ${seen}\\r`), done.textContent);
  assert.equal(done.find("span")[0].attributes.title, "execute_cli");
  assert.ok(result.textContent.includes("execute\\u202e_cli"), result.textContent);
  assert.ok(status.textContent.includes(`Sandboxed: ${seen}`), status.textContent);
  assert.ok(alert.textContent.includes(`Blocked ${seen}`), alert.textContent);
  assert.ok(error.textContent.includes(`Refused ${seen}`), error.textContent);
  assert.ok(plan.textContent.includes(seen), plan.textContent);
  for (const el of shown()) assert.ok(!/[\u202a-\u202e\u2066-\u2069\r]/.test(el.textContent), el.textContent);
});

test("the agent's answers and the user's own words are drawn as written", () => {
  failTags = new Set();
  const { thread, shown } = view();
  const family = "👨‍👩‍👧"; // joined by zero-width joiners, which an escape would break apart
  thread.render([
    { id: "u", rev: 1, kind: "user", text: `send ${family}` },
    { id: "r", rev: 1, kind: "result", status: "completed", answer: `Sent ${family}` },
  ]);
  assert.equal(shown()[0].textContent, `send ${family}`);
  assert.ok(shown()[1].textContent.includes(`Sent ${family}`));
});
