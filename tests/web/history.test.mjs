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
