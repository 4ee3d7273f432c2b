// QA round 29, the phone's pure side: an answer to an approval is told as given only once the desktop shows it
// arrived, step times after a lost link come from the desktop (or are not shown), and forgetting a desktop says
// that the desktop keeps the pairing until it is revoked there.

import test from "node:test";
import assert from "node:assert/strict";
import { initialState, reduce, ConnStatus } from "../../contop/web/js/store.js";
import * as thread from "../../contop/web/js/ui/thread.js";
import * as pairing from "../../contop/web/js/pairing.js";

// As store.js names them (spelled out, so each test fails on its own against a store that has none).
const Delivery = { SENDING: "sending", DELIVERED: "delivered", LOST: "lost", REFUSED: "refused" };
const answerText = (e) => {
  assert.equal(typeof thread.answerText, "function", "thread.js tells how far an answer got");
  return thread.answerText(e);
};
const forgetQuestion = (...args) => {
  assert.equal(typeof pairing.forgetQuestion, "function", "pairing.js words the question before forgetting");
  return pairing.forgetQuestion(...args);
};

const srv = (type, payload, id = `m-${Math.random()}`, now = 1000) => ({ type: "server", msg: { type, id, payload }, now });
const at = (now, action) => ({ ...action, now });
const conn = (status, healed = false) => ({ type: "conn", conn: { status }, healed });
const run = (actions, state = initialState()) => actions.reduce(reduce, state);
const confirmEntry = (s) => s.entries.find((e) => e.kind === "confirm");
const step = (s) => s.entries.find((e) => e.kind === "step");

// Connected, greeted, a run on, and the desktop asking about the call "call-1" (contop/transport/session.py sends
// the call id with the question).
function asked() {
  return run([
    conn(ConnStatus.CONNECTED),
    srv("state_update", { ai_state: "idle" }),
    { type: "user_intent", id: "i1", text: "delete it" },
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: rm -r x", status: "running" }),
    srv("agent_confirmation_request", { tool: "execute_cli", command: "rm -r x", timeout_s: 60, call_id: "call-1" }, "req-1"),
  ]);
}

const answer = (approved) => ({ type: "confirmation_answered", approved, answerId: "ans-1", probeId: "probe-1" });

for (const approved of [true, false]) {
  const said = approved ? "Approved" : "Denied";
  test(`${said} over a link that was already dead: never shown as ${said.toLowerCase()}, and said to be not delivered`, () => {
    let s = run([answer(approved)], asked());
    assert.equal(s.confirmation, null, "the dialog closes");
    let e = confirmEntry(s);
    assert.equal(e.delivery, Delivery.SENDING);
    assert.notEqual(answerText(e).word, said, "no reply from the desktop yet");
    assert.match(answerText(e).word, /^Sending your /);
    // The browser notices the dead link: the answer never got an acknowledgement.
    s = run([conn(ConnStatus.RECONNECTING)], s);
    e = confirmEntry(s);
    assert.equal(e.delivery, Delivery.LOST);
    const text = answerText(e);
    assert.equal(text.word, "Not delivered — not approved");
    assert.match(text.note, /takes the step as not approved/);
    assert.doesNotMatch(text.word, /Approved|Denied/);
    // Still so over the new link, and in what is stored (a reload shows the same).
    s = run([conn(ConnStatus.CONNECTED), srv("state_update", { ai_state: "idle" })], s);
    assert.equal(confirmEntry(s).delivery, Delivery.LOST);
  });
}

test("the desktop's reply to the keepalive sent behind the answer confirms it", () => {
  let s = run([answer(true)], asked());
  s = run([srv("keepalive", { ref_id: "someone-else" })], s);
  assert.equal(confirmEntry(s).delivery, Delivery.SENDING, "a reply to another keepalive says nothing");
  s = run([srv("keepalive", { ref_id: "probe-1" })], s);
  assert.equal(confirmEntry(s).delivery, Delivery.DELIVERED);
  assert.equal(answerText(confirmEntry(s)).word, "Approved");
  s = run([conn(ConnStatus.RECONNECTING)], s);
  assert.equal(confirmEntry(s).delivery, Delivery.DELIVERED, "a drop after the reply changes nothing");
});

test("a link that heals by itself still carries the answer: its reply then confirms it", () => {
  let s = run([answer(false), conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED, true)], asked());
  assert.equal(confirmEntry(s).delivery, Delivery.LOST);
  s = run([srv("keepalive", { ref_id: "probe-1" })], s);
  assert.equal(confirmEntry(s).delivery, Delivery.DELIVERED);
  assert.equal(answerText(confirmEntry(s)).word, "Denied");
});

test("an approved step that ran proves the approval arrived; a skipped one does not", () => {
  const lost = run([answer(true), conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)], asked());
  assert.equal(confirmEntry(lost).delivery, Delivery.LOST);
  const ran = run([srv("tool_result", { tool: "execute_cli", status: "success", stdout: "", step: 1, ref_id: "call-1", duration_ms: 900 })], lost);
  assert.equal(confirmEntry(ran).delivery, Delivery.DELIVERED);
  const skipped = run([srv("tool_result", { tool: "execute_cli", status: "rejected", step: 1, ref_id: "call-1" })], lost);
  assert.equal(confirmEntry(skipped).delivery, Delivery.LOST);
});

test("an answer the desktop no longer waited for is told as too late, even once the keepalive behind it is answered", () => {
  let s = run([answer(true), srv("error", { code: "invalid_payload", message: "no confirmation is pending", ref_id: "ans-1" })], asked());
  assert.equal(confirmEntry(s).delivery, Delivery.REFUSED);
  s = run([srv("keepalive", { ref_id: "probe-1" })], s);
  assert.equal(confirmEntry(s).delivery, Delivery.REFUSED);
  assert.equal(answerText(confirmEntry(s)).word, "Too late — not approved");
});

test("a question asked again after a reconnect waits again, without the undelivered answer", () => {
  let s = run([answer(true), conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)], asked());
  s = run([srv("agent_confirmation_request", { tool: "execute_cli", command: "rm -r x", call_id: "call-1" }, "req-1")], s);
  const e = confirmEntry(s);
  assert.equal(e.decision, null);
  assert.equal(e.delivery, null);
  assert.equal(answerText(e).word, "Waiting for you");
});

test("an answer on its way when the page reloaded is not left on its way", () => {
  const s = run([answer(true)], asked());
  const restored = reduce(initialState(), { type: "restore", entries: s.entries, sessionId: null, running: true });
  assert.equal(confirmEntry(restored).delivery, Delivery.LOST);
});

test("a 1 s step whose end arrives 20 s later, after a reconnect, shows the desktop's time, never ~21 s", () => {
  let s = run([
    at(0, conn(ConnStatus.CONNECTED)),
    srv("state_update", { ai_state: "idle" }, "g1", 10),
    at(20, { type: "user_intent", id: "i1", text: "x" }),
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: sleep 1", status: "running" }, "p1", 1000),
    at(1500, conn(ConnStatus.RECONNECTING)),
    at(20500, conn(ConnStatus.CONNECTED)),
    // The desktop's queue, flushed before its greeting.
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "done", status: "completed" }, "p2", 21000),
  ]);
  assert.equal(step(s).status, "completed");
  assert.equal(step(s).durationMs, null, "no duration rather than the time the link was down");
  s = run([srv("tool_result", { tool: "execute_cli", status: "success", stdout: "", step: 1, duration_ms: 1004 }, "r1", 21001)], s);
  assert.equal(step(s).durationMs, 1004, "the desktop's own timing");
});

test("a step that started and ended in the desktop's queue gets no duration; one after its greeting is timed", () => {
  let s = run([
    at(0, conn(ConnStatus.CONNECTED)),
    srv("agent_progress", { step: 1, tool: "t", status: "running" }, "q1", 100),
    srv("agent_progress", { step: 1, tool: "t", status: "completed" }, "q2", 101),
  ]);
  assert.equal(step(s).durationMs, null, "both arrived at once from the queue: 1 ms would be wrong");
  s = run([
    srv("state_update", { ai_state: "executing" }, "g", 102),
    srv("agent_progress", { step: 2, tool: "t", status: "running" }, "q3", 1000),
    srv("agent_progress", { step: 2, tool: "t", status: "completed" }, "q4", 2250),
  ], s);
  assert.equal(s.entries.find((e) => e.kind === "step" && e.step === 2).durationMs, 1250);
  // A step that arrived during a drop that healed by itself may have been held up too.
  s = run([
    srv("agent_progress", { step: 3, tool: "t", status: "running" }, "q5", 3000),
    at(3100, conn(ConnStatus.RECONNECTING)),
    at(9000, conn(ConnStatus.CONNECTED, true)),
    srv("agent_progress", { step: 3, tool: "t", status: "completed" }, "q6", 9001),
  ], s);
  assert.equal(s.entries.find((e) => e.kind === "step" && e.step === 3).durationMs, null);
});

test("a running step reopened by a reload is not timed from the old page's clock", () => {
  const before = run([
    conn(ConnStatus.CONNECTED),
    srv("state_update", { ai_state: "idle" }),
    srv("agent_progress", { step: 1, tool: "t", status: "running" }, "a", 1000),
  ]);
  const s = run(
    [
      { type: "restore", entries: before.entries, sessionId: null, running: true },
      at(50000, conn(ConnStatus.CONNECTED)),
      srv("state_update", { ai_state: "executing" }, "g", 50001),
      srv("agent_progress", { step: 1, tool: "t", status: "completed" }, "b", 51000),
    ],
    initialState(),
  );
  assert.equal(step(s).durationMs, null);
});

test("forgetting a desktop says the desktop keeps the pairing, and where to revoke it", () => {
  const p = { h: "192.168.1.20", d: "AA", t: "tok" };
  const q = forgetQuestion(p, { deviceName: "Pixel 7 · Chrome" });
  assert.equal(q.title, "Forget 192.168.1.20?");
  assert.equal(q.confirm, "Forget");
  assert.match(q.message, /from this phone only/);
  assert.match(q.message, /The desktop still lists “Pixel 7 · Chrome” as paired/);
  assert.match(q.message, /Devices and choose Revoke next to “Pixel 7 · Chrome”/);
  assert.doesNotMatch(q.message, /disconnects/);
  assert.match(forgetQuestion(p, { connected: true }).message, /This phone disconnects now\.$/);
  assert.match(forgetQuestion(p, { connected: true, running: true }).message, /the task running on the desktop stops\.$/);
  assert.match(forgetQuestion(p).message, /lists this phone as paired/);
});
