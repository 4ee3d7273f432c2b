import test from "node:test";
import assert from "node:assert/strict";
import { entriesForRestore, entriesForReload, entriesToStore, upsertSession } from "../../contop/web/js/history.js";
import { initialState, reduce } from "../../contop/web/js/store.js";

// A session as History stores it: a request, its approval, its steps with their output, and the answer.
const STORED = [
  { id: "user-a1", kind: "user", text: "copy the report", rev: 1 },
  { id: "confirm-q1", kind: "confirm", tool: "execute_cli", command: "cp report.pdf /mnt", decision: "approved", rev: 2 },
  { id: "step-3", kind: "step", step: 1, tool: "execute_cli", status: "completed", action: "Running: cp report.pdf /mnt", result: { status: "success", stdout: "", stderr: "" }, rev: 3 },
  { id: "step-4", kind: "step", step: 2, tool: "execute_cli", status: "completed", action: "Running: ls /mnt", result: { status: "success", stdout: "report.pdf\n", stderr: "" }, rev: 3 },
  { id: "result-5", kind: "result", answer: "Copied.", status: "completed", rev: 1 },
];

const srv = (type, payload) => ({ type: "server", msg: { type, id: `m-${Math.random()}`, payload } });

test("a session reopened from History keeps every entry it stored, and what follows is added after them", () => {
  // Reopened: the thread shows the conversation only.
  let s = reduce(initialState(), { type: "restore", entries: entriesForRestore(STORED), sessionId: "srv-1" });
  assert.deepEqual(s.entries.map((e) => e.kind), ["user", "result"]);
  // Saved as it is, before anything else happens: nothing is lost.
  assert.deepEqual(entriesToStore(STORED, s.entries), STORED);
  // Continued: a new request, a step and its answer.
  s = reduce(s, { type: "user_intent", id: "b1", text: "and the slides" });
  s = reduce(s, srv("agent_progress", { step: 1, tool: "execute_cli", status: "running", detail: "Running: cp slides.pdf /mnt" }));
  s = reduce(s, srv("agent_result", { answer: "Copied the slides.", status: "completed" }));
  const record = upsertSession([], { id: "r", entries: entriesToStore(STORED, s.entries) })[0];
  assert.deepEqual(
    record.entries.map((e) => e.kind),
    ["user", "confirm", "step", "step", "result", "user", "step", "result"],
  );
  assert.deepEqual(record.entries.slice(0, STORED.length), STORED, "what was stored stays as it was");
  assert.equal(record.entries[3].result.stdout, "report.pdf\n");
  assert.ok(!record.entries.some((e) => e.restored), "the thread's copies are not stored a second time");
});

test("a thread continued over several page loads is drawn whole after a reload: no two entries share an id", () => {
  // Stored ids from two page loads: the first load's, then this load's (its own numbering from 1 again).
  const stored = [
    { id: "user-x", kind: "user", text: "one", rev: 1 },
    { id: "step-2", kind: "step", step: 1, tool: "t", status: "completed", rev: 2 },
    { id: "r0:step-2", kind: "step", step: 1, tool: "t", status: "completed", rev: 2 },
    { id: "step-2", kind: "step", step: 2, tool: "t", status: "completed", rev: 2 },
  ];
  const s = reduce(initialState(), { type: "restore", entries: entriesForReload(stored), sessionId: null });
  const ids = s.entries.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, `ids: ${ids}`);
  assert.equal(ids[0], "r0:user-x");
  // And the next reload does not stack anything onto them.
  const again = reduce(initialState(), { type: "restore", entries: s.entries, sessionId: null });
  assert.deepEqual(again.entries.map((e) => e.id), ids);
});
