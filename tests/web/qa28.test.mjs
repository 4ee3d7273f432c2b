// QA round 28, the store's side: parallel calls of one tool, repeated security alerts, an approval reopened by a
// reload, and manual control refused while the desktop's display is gone.

import test from "node:test";
import assert from "node:assert/strict";
import { initialState, reduce } from "../../contop/web/js/store.js";

const srv = (type, payload, id = `m-${Math.random()}`) => ({ type: "server", msg: { type, id, payload }, now: 1000 });
const run = (actions, state = initialState()) => actions.reduce(reduce, state);
const steps = (s) => s.entries.filter((e) => e.kind === "step");

// What the desktop sends for two parallel execute_cli calls (contop/agent/toolbridge.py): both start, then the one
// that ends first reports first.
const running = (step, command) =>
  srv("agent_progress", { step, tool: "execute_cli", detail: `Running: ${command}`, status: "running" });
const done = (step, status, detail) =>
  srv("agent_progress", { step, tool: "execute_cli", detail, status: status === "success" ? "completed" : "failed" });
const result = (step, status, stdout) =>
  srv("tool_result", { tool: "execute_cli", status, stdout, step, ref_id: `call-${step}`, call_id: `call-${step}` });

test("parallel calls of one tool: each result lands on its own step, whatever order they end in", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "run both" },
    running(1, "echo AAA-first"),
    running(2, "sleep 1; echo BBB-second"),
    done(1, "success", "AAA-first"),
    result(1, "success", "AAA-first\n"),
    done(2, "success", "BBB-second"),
    result(2, "success", "BBB-second\n"),
  ]);
  const [first, second] = steps(s);
  assert.equal(first.step, 1);
  assert.equal(first.result.stdout, "AAA-first\n");
  assert.equal(second.step, 2);
  assert.equal(second.result.stdout, "BBB-second\n");
  assert.equal(s.entries.filter((e) => e.kind === "tool_result").length, 0, "no result left without its step");
});

test("parallel calls, the first approved and the second denied: only the denied one reads as skipped", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "run both" },
    running(1, "echo AAA-first"),
    running(2, "sleep 1; echo BBB-second"),
    srv("agent_confirmation_request", { tool: "execute_cli", command: "echo AAA-first", timeout_s: 60 }, "req-1"),
    srv("agent_confirmation_request", { tool: "execute_cli", command: "sleep 1; echo BBB-second", timeout_s: 60 }, "req-2"),
    { type: "confirmation_answered", approved: true },
    done(1, "success", "AAA-first"),
    result(1, "success", "AAA-first\n"),
    { type: "confirmation_answered", approved: false },
    done(2, "rejected", "Not approved, so it was skipped."),
    result(2, "rejected", ""),
  ]);
  const [first, second] = steps(s);
  assert.equal(first.status, "completed", "the approved step ran");
  assert.equal(first.result.status, "success");
  assert.equal(first.result.stdout, "AAA-first\n");
  assert.equal(second.status, "skipped");
  assert.equal(second.result.status, "rejected");
});

test("a result naming a step with no card stands alone instead of taking another step's card", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "x" },
    running(1, "echo a"),
    result(7, "success", "seven\n"),
  ]);
  assert.equal(steps(s)[0].result, null);
  assert.equal(s.entries.at(-1).kind, "tool_result");
  assert.equal(s.entries.at(-1).stdout, "seven\n");
});

const RETRY = (n) => `Away Mode could not put the lock screen back up (no display). It stays on and tries again in ${n} s.`;

test("a security alert the desktop repeats replaces its banner and counts, instead of stacking", () => {
  let s = initialState();
  for (const n of [1, 2, 4, 8, 16, 30, 30]) {
    s = reduce(s, srv("security_alert", { reason: "overlay_restart_failed", message: RETRY(n) }));
  }
  assert.equal(s.alerts.length, 1);
  assert.equal(s.alerts[0].message, RETRY(30), "the newest text");
  assert.equal(s.alerts[0].count, 7);
  // Another kind of alert is a banner of its own; the same message received twice (sent again) is counted once.
  s = reduce(s, srv("security_alert", { reason: "overlay_tampered", message: "Someone interfered." }, "t1"));
  s = reduce(s, srv("security_alert", { reason: "overlay_tampered", message: "Someone interfered." }, "t1"));
  assert.deepEqual(
    s.alerts.map((a) => [a.reason, a.count]),
    [["overlay_restart_failed", 7], ["overlay_tampered", 1]],
  );
  // Dismissed, the next alert of that kind starts a new banner.
  s = reduce(s, { type: "dismiss_alert", id: "t1" });
  s = reduce(s, srv("security_alert", { reason: "overlay_tampered", message: "Again." }, "t2"));
  assert.equal(s.alerts.find((a) => a.reason === "overlay_tampered").count, 1);
});

test("the lock screen back up (or Away Mode off) clears the alerts that it was down", () => {
  let s = run([
    srv("security_alert", { reason: "overlay_killed", message: "The lock screen was closed without an unlock." }),
    srv("away_mode_status", { away_mode: true, overlay_active: false }),
    srv("security_alert", { reason: "overlay_restart_failed", message: RETRY(1) }),
    srv("security_alert", { reason: "overlay_tampered", message: "Someone interfered." }),
  ]);
  assert.equal(s.alerts.length, 3, "still down: the alerts stand");
  s = reduce(s, srv("away_mode_status", { away_mode: true, overlay_active: true }));
  assert.deepEqual(
    s.alerts.map((a) => a.reason),
    ["overlay_tampered"],
    "what someone did to the lock screen stays until dismissed",
  );
  assert.equal(s.entries.filter((e) => e.kind === "alert").length, 3, "the thread keeps every alert");
  s = run([srv("security_alert", { reason: "overlay_restart_failed", message: RETRY(2) }), srv("away_mode_status", { away_mode: false })], s);
  assert.deepEqual(s.alerts.map((a) => a.reason), ["overlay_tampered"]);
});

test("an approval open when the app reloads is the same one when the desktop asks again", () => {
  const req = { tool: "execute_cli", command: "rm -r /tmp/x", reason: "destructive_command", timeout_s: 60 };
  const before = run([
    { type: "user_intent", id: "i1", text: "delete it" },
    running(1, "rm -r /tmp/x"),
    { ...srv("agent_confirmation_request", req, "req-1"), now: 1000 },
  ]);
  // The reload: the stored thread comes back (ids renamed), and the desktop asks the open question again.
  let s = reduce(initialState(), { type: "restore", entries: before.entries, sessionId: null, running: true });
  s = reduce(s, { ...srv("agent_confirmation_request", { ...req, timeout_s: 40 }, "req-1"), now: 21000 });
  const confirms = s.entries.filter((e) => e.kind === "confirm");
  assert.equal(confirms.length, 1, "one approval in the thread");
  assert.match(confirms[0].id, /^r\d+:confirm-req-1$/, "the restored entry, kept under its id");
  assert.equal(confirms[0].decision, null);
  assert.equal(confirms[0].deadline, 61000, "the question keeps its end");
  assert.equal(s.confirmation.requestId, "req-1");
  s = run([{ type: "confirmation_answered", approved: true }, srv("agent_result", { answer: "Deleted.", status: "completed" })], s);
  assert.deepEqual(
    s.entries.filter((e) => e.kind === "confirm").map((e) => e.decision),
    ["approved"],
    "no copy left behind as not answered",
  );
});

test("manual control refused for a gone display is available again once the live screen is back", () => {
  const reason = "Manual control is not available: the X display :61 went away.";
  let s = reduce(initialState(), { type: "unavailable", feature: "manual", reason });
  s = reduce(s, srv("agent_status", { status_type: "video_unavailable", message: "The screen cannot be captured." }));
  assert.equal(s.unavailable.manual, reason);
  s = reduce(s, srv("agent_status", { status_type: "video_resumed", message: "The live screen is back." }));
  assert.equal(s.unavailable.manual, undefined);
  // Or an action of it was not refused.
  s = run([{ type: "unavailable", feature: "manual", reason }, { type: "unavailable", feature: "away", reason: "No PIN." }], s);
  s = reduce(s, { type: "available", feature: "manual" });
  assert.deepEqual(s.unavailable, { away: "No PIN." });
  assert.equal(reduce(s, { type: "available", feature: "manual" }), s, "nothing to clear: nothing changes");
});
