import test from "node:test";
import assert from "node:assert/strict";
import {
  stripBinary,
  entriesForStorage,
  entriesForRestore,
  entriesForReload,
  loadActiveId,
  saveActiveId,
  upsertSession,
  prune,
  searchSessions,
  loadHistory,
  saveHistory,
  titleOf,
  previewOf,
  removeSession,
  MAX_SESSIONS,
} from "../../contop/web/js/history.js";
import { memoryStorage } from "../../contop/web/js/storage.js";

const DAY = 86400000;
const big = "A".repeat(5000);

test("stripBinary removes screenshots and long base64 anywhere", () => {
  const out = stripBinary({ a: 1, frame_b64: "x", nested: [{ image_b64: "y", keep: "z", blob: big, uri: `data:image/png;base64,${big}` }] });
  assert.deepEqual(out, { a: 1, nested: [{ keep: "z" }] });
});

test("stored entries drop streaming flags and empty thinking", () => {
  const e = entriesForStorage([
    { id: "1", kind: "text", text: "hi", streaming: true },
    { id: "2", kind: "thinking", text: "" },
    { id: "3", kind: "step", tool: "t", screenshot: big },
  ]);
  assert.deepEqual(e, [{ id: "1", kind: "text", text: "hi" }, { id: "3", kind: "step", tool: "t" }]);
});

test("restore keeps the conversation only", () => {
  const e = entriesForRestore([
    { id: "1", kind: "user", text: "a" },
    { id: "2", kind: "step" },
    { id: "3", kind: "text", text: "b" },
    { id: "4", kind: "result", answer: "c" },
    { id: "5", kind: "error", text: "d" },
  ]);
  assert.deepEqual(e.map((x) => x.id), ["1", "3", "4"]);
  assert.ok(e.every((x) => x.restored));
});

test("title from the first user message, shortened", () => {
  assert.equal(titleOf([]), "New session");
  assert.equal(titleOf([{ kind: "user", text: "  open   the\nbrowser " }]), "open the browser");
  assert.equal(titleOf([{ kind: "user", text: "x".repeat(100) }]).length, 58);
});

test("a title is cut on whole characters: never through an emoji", () => {
  const smile = titleOf([{ kind: "user", text: `${"a".repeat(56)}${"😀".repeat(10)}` }]);
  assert.ok(smile.isWellFormed(), "no half of an emoji (shown as �)");
  assert.equal(smile, `${"a".repeat(56)}😀…`);
  // A family is one emoji of five code points: kept whole or not at all.
  const family = "👨‍👩‍👧";
  assert.equal(titleOf([{ kind: "user", text: `${"a".repeat(55)}${family.repeat(10)}` }]), `${"a".repeat(55)}${family.repeat(2)}…`);
  // Forty emoji are forty characters (eighty UTF-16 units): short enough to show whole.
  assert.equal(titleOf([{ kind: "user", text: "😀".repeat(40) }]), "😀".repeat(40));
});

test("a History preview is the last answer as plain text, without its Markdown", () => {
  const record = (answer) => ({ entries: [{ kind: "user", text: "q" }, { kind: "result", answer }] });
  assert.equal(
    previewOf(record("## Done\nHere is **bold**, *this* and `code`: see [the docs](https://example.com/docs) ![a chart](https://example.com/c.png)")),
    "Done Here is bold, this and code: see the docs a chart",
  );
  assert.equal(previewOf(record("```sh\ndf -h /\n```\n- one\n- two\n\n> quoted\n\n| disk | free |\n|---|---|\n| / | 112 GB |")), "df -h / one two quoted disk free / 112 GB");
  // Raw HTML is shown as typed, as in the thread: the preview is text, never markup.
  assert.equal(previewOf(record("<img src=x onerror=alert(1)> <b>hi</b>")), "<img src=x onerror=alert(1)> <b>hi</b>");
  assert.equal(previewOf({ entries: [{ kind: "text", text: "Still _working_" }] }), "Still working");
  assert.equal(previewOf({ entries: [{ kind: "user", text: "q" }] }), "");
  assert.ok(previewOf(record(`**${"long ".repeat(20000)}**`)).length <= 200, "one line's worth of a long answer");
});

test("upsert replaces by id and keeps at most 20, newest first", () => {
  let list = [];
  for (let i = 0; i < 25; i++) list = upsertSession(list, { id: `s${i}`, entries: [{ kind: "user", text: `task ${i}` }] }, 1000 + i);
  assert.equal(list.length, MAX_SESSIONS);
  assert.equal(list[0].id, "s24");
  assert.equal(list.at(-1).id, "s5");
  list = upsertSession(list, { id: "s10", createdAt: 5, entries: [{ kind: "user", text: "again" }] }, 9999);
  assert.equal(list.length, MAX_SESSIONS);
  assert.equal(list[0].id, "s10");
  assert.equal(list[0].title, "again");
  assert.equal(list[0].createdAt, 5);
  assert.equal(list[0].entryCount, 1);
  assert.equal(removeSession(list, "s10").length, 19);
  assert.equal(prune(list, 3).length, 3);
});

test("search by text in title and thread, and by date range", () => {
  const now = Date.parse("2026-11-21T15:00:00");
  const list = [
    { id: "a", title: "Open Firefox", updatedAt: now - 1000, entries: [{ kind: "result", answer: "Firefox is open" }] },
    { id: "b", title: "Disk usage", updatedAt: now - 3 * DAY, entries: [{ kind: "step", detail: "Running: du -sh" }] },
    { id: "c", title: "Old thing", updatedAt: now - 30 * DAY, entries: [] },
    // A finished step's detail is how it ended; what it ran is kept as its action.
    { id: "d", title: "Logs", updatedAt: now - 40 * DAY, entries: [{ kind: "step", detail: "Done", action: "Running: journalctl -b" }] },
  ];
  assert.deepEqual(searchSessions(list, { text: "firefox", now }).map((s) => s.id), ["a"]);
  assert.deepEqual(searchSessions(list, { text: "DU -SH", now }).map((s) => s.id), ["b"]);
  assert.deepEqual(searchSessions(list, { range: "today", now }).map((s) => s.id), ["a"]);
  assert.deepEqual(searchSessions(list, { range: "week", now }).map((s) => s.id), ["a", "b"]);
  assert.deepEqual(searchSessions(list, { text: "journalctl", now }).map((s) => s.id), ["d"]);
  assert.equal(searchSessions(list, { now }).length, 4);
});

test("search finds a session by the model used", () => {
  const now = Date.UTC(2025, 0, 10, 12);
  const list = [
    { id: "a", title: "Tidy", model: "claude-sonnet-4", updatedAt: now, entries: [{ kind: "user", text: "tidy up" }] },
    { id: "b", title: "Disk", model: null, updatedAt: now, entries: [{ kind: "result", answer: "ok", model: "gemini-2.5-flash" }] },
    { id: "c", title: "Logs", updatedAt: now, entries: [{ kind: "step", tool: "execute_cli", model: "gpt-4o-mini" }] },
  ];
  assert.deepEqual(searchSessions(list, { text: "Sonnet", now }).map((s) => s.id), ["a"], "the model the phone chose");
  assert.deepEqual(searchSessions(list, { text: "gemini", now }).map((s) => s.id), ["b"], "the model an answer names");
  assert.deepEqual(searchSessions(list, { text: "gpt-4o", now }).map((s) => s.id), ["c"], "the model a step names");
});

test("load/save survive garbage and a full storage", () => {
  const st = memoryStorage();
  assert.deepEqual(loadHistory(st), []);
  st.setItem("contop.history.v1", "{broken");
  assert.deepEqual(loadHistory(st), []);
  const list = [1, 2, 3].map((i) => ({ id: `s${i}`, updatedAt: i, entries: [] }));
  saveHistory(st, list);
  assert.deepEqual(loadHistory(st).map((s) => s.id), ["s3", "s2", "s1"]);
  // a storage that only fits two sessions: the oldest goes
  const tight = memoryStorage();
  const set = tight.setItem;
  tight.setItem = (k, v) => {
    if (JSON.parse(v).length > 2) throw new Error("QuotaExceededError");
    set(k, v);
  };
  assert.deepEqual(saveHistory(tight, list).map((s) => s.id), ["s3", "s2"]);
});

/** A Storage that refuses a write once all it holds would exceed `quota` characters, as a browser does. */
function quotaStorage(quota) {
  const st = memoryStorage();
  const keys = new Map();
  const set = st.setItem;
  st.setItem = (k, v) => {
    const next = new Map(keys).set(k, String(v));
    if ([...next].reduce((n, [key, value]) => n + key.length + value.length, 0) > quota) {
      throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
    }
    keys.set(k, String(v));
    set(k, v);
  };
  return st;
}

const small = (i) => ({ id: `old${i}`, updatedAt: i, entries: [{ kind: "user", text: `small session ${i}` }, { kind: "result", answer: "short answer" }] });
const log = (i) => `log line ${String(i).padStart(6, "0")} of a big file\n`;
const bigLog = Array.from({ length: 2000 }, (_, i) => log(i + 1)).join(""); // 56 KB, the desktop keeps 50 KB

/** A long conversation: every round reads ten big logs, then answers (as the QA tester's session did). */
function longSession(rounds, answer = "Read the logs.") {
  const entries = [];
  for (let r = 0; r < rounds; r++) {
    entries.push({ id: `u${r}`, kind: "user", text: `read the big logs, round ${r}` });
    for (let k = 1; k <= 10; k++) {
      entries.push({ id: `s${r}-${k}`, kind: "step", step: k, tool: "execute_cli", status: "completed", action: `Running: seq # ${k}`, result: { status: "success", stdout: bigLog, stderr: "" } });
    }
    entries.push({ id: `a${r}`, kind: "result", answer });
  }
  return { id: "current", updatedAt: 100, entries };
}

test("a conversation too big for the phone's storage never wipes History: its outputs are shortened", () => {
  const st = quotaStorage(2_000_000);
  saveHistory(st, [0, 1, 2].map(small));
  const answer = `The logs end with ${"an error ".repeat(3000)}.`; // a long answer, kept whole
  const saved = saveHistory(st, [longSession(14, answer), ...[0, 1, 2].map(small)]); // 7.8 MB as it is on screen
  assert.ok(saved);
  const stored = loadHistory(st);
  assert.deepEqual(stored.map((s) => s.id), ["current", "old2", "old1", "old0"], "every session is still there");
  const current = stored[0].entries;
  assert.equal(current.length, 14 * 12);
  assert.deepEqual(entriesForRestore(current).filter((e) => e.kind === "user").map((e) => e.text), Array.from({ length: 14 }, (_, r) => `read the big logs, round ${r}`));
  assert.ok(current.filter((e) => e.kind === "result").every((e) => e.answer === answer), "the answers are kept whole");
  const out = current[1].result.stdout;
  assert.ok(out.length <= 2000 && out.startsWith(log(1)) && out.endsWith(log(2000)), "an output keeps its beginning and end");
  assert.match(out, /characters not kept: the phone's storage was full/);
  assert.equal(stored[1].entries[1].answer, "short answer");
});

test("very long texts are shortened next, and then the oldest sessions go, never the one on screen", () => {
  const st = quotaStorage(70_000);
  const older = [0, 1, 2].map((i) => ({ ...small(i), entries: [{ kind: "user", text: `old ${i}` }, { kind: "result", answer: `${i}`.repeat(19_000) }] }));
  const answer = `Start. ${"word ".repeat(100_000)} End.`;
  const current = { id: "current", updatedAt: 100, entries: [{ kind: "user", text: "summarize" }, { kind: "result", answer }] };
  const saved = saveHistory(st, [current, ...older]);
  assert.deepEqual(saved.map((s) => s.id), ["current", "old2", "old1"], "the oldest went");
  const kept = loadHistory(st)[0].entries[1].answer;
  assert.ok(kept.length <= 20000 && kept.startsWith("Start. word") && kept.endsWith("word  End."));
  assert.equal(loadHistory(st)[1].entries[1].answer, "2".repeat(19_000), "texts not that long stay whole");
});

test("when even the current session cannot be saved, what was stored before is kept", () => {
  const st = quotaStorage(60_000);
  saveHistory(st, [0, 1, 2].map(small));
  const before = st.getItem("contop.history.v1");
  const entries = Array.from({ length: 600 }, (_, i) => ({ id: `u${i}`, kind: "user", text: `question ${i} ${"x".repeat(100)}` }));
  assert.equal(saveHistory(st, [{ id: "current", updatedAt: 100, entries }, ...[0, 1, 2].map(small)]), null);
  assert.equal(st.getItem("contop.history.v1"), before);
  assert.deepEqual(loadHistory(st).map((s) => s.id), ["old2", "old1", "old0"]);
});

test("a reload reopens the whole thread, steps included, with an open thinking indicator closed", () => {
  const stored = [
    { id: "1", kind: "user", text: "three steps" },
    { id: "2", kind: "thinking", text: "first echo", done: false },
    { id: "3", kind: "step", step: 1, tool: "execute_cli", status: "running", detail: "Running: echo one" },
  ];
  const out = entriesForReload(stored);
  assert.deepEqual(out.map((e) => e.kind), ["user", "thinking", "step"]);
  assert.equal(out[1].done, true);
  assert.equal(out[2].status, "running", "the desktop's next messages continue the step");
  assert.equal(out.some((e) => e.restored), false, "shown as it was, not as an old session");
});

test("the active session's id is kept for the next page load", () => {
  const ls = memoryStorage();
  assert.equal(loadActiveId(ls), null);
  saveActiveId(ls, "rec-1");
  assert.equal(loadActiveId(ls), "rec-1");
});
