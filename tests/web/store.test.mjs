import test from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { initialState, reduce, createStore, normalizeModels, modelTitle, chipModelTitle, splitModelTitle, ConnStatus } from "../../contop/web/js/store.js";

const srv = (type, payload, id = `m-${Math.random()}`) => ({ type: "server", msg: { type, id, payload }, now: 1000 });
const run = (actions, state = initialState()) => actions.reduce(reduce, state);
const kinds = (s) => s.entries.map((e) => e.kind);

test("a user intent starts a run and shows the message", () => {
  const s = run([{ type: "user_intent", id: "i1", text: "open the browser", now: 1 }]);
  assert.deepEqual(kinds(s), ["user"]);
  assert.equal(s.running, true);
  assert.equal(s.pendingIntent, "i1");
});

test("thinking streams into one indicator, closed when output arrives", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "x" },
    srv("agent_thinking", { text: "I should " }),
    srv("agent_thinking", { text: "check first." }),
    srv("agent_text", { text: "Checking" }),
  ]);
  assert.deepEqual(kinds(s), ["user", "thinking", "text"]);
  assert.equal(s.entries[1].text, "I should check first.");
  assert.equal(s.entries[1].done, true);
  assert.equal(s.entries[2].streaming, true);
});

test("agent_text chunks append to the streaming bubble", () => {
  const s = run([srv("agent_text", { text: "Hel" }), srv("agent_text", { text: "lo" })]);
  assert.deepEqual(kinds(s), ["text"]);
  assert.equal(s.entries[0].text, "Hello");
});

test("progress for the same step updates one card and computes its duration", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "x" },
    { ...srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: ls", status: "running", model: "m1", backend: "b" }), now: 1000 },
    { ...srv("agent_progress", { step: 1, tool: "execute_cli", status: "completed" }), now: 2250 },
    { ...srv("agent_progress", { step: 2, tool: "take_screenshot", status: "failed", duration_ms: 40 }), now: 3000 },
  ]);
  const steps = s.entries.filter((e) => e.kind === "step");
  assert.equal(steps.length, 2);
  assert.equal(steps[0].status, "completed");
  assert.equal(steps[0].detail, "Running: ls");
  assert.equal(steps[0].model, "m1");
  assert.equal(steps[0].durationMs, 1250);
  assert.equal(steps[1].durationMs, 40);
  assert.ok(steps[0].rev > 1);
});

test("a finished step keeps the detail it ran with beside its completion detail", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "x" },
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: ls /tmp/x", status: "running" }),
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Command completed successfully.", status: "completed" }),
  ]);
  const step = s.entries.find((e) => e.kind === "step");
  assert.equal(step.action, "Running: ls /tmp/x");
  assert.equal(step.detail, "Command completed successfully.");
});

test("a new run does not reuse step cards of the previous one", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "a" },
    srv("agent_progress", { step: 1, tool: "t", status: "completed" }),
    srv("agent_result", { answer: "ok" }),
    { type: "user_intent", id: "i2", text: "b" },
    srv("agent_progress", { step: 1, tool: "t", status: "running" }),
  ]);
  assert.equal(s.entries.filter((e) => e.kind === "step").length, 2);
});

test("tool_result attaches to its step, or stands alone", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "a" },
    srv("agent_progress", { step: 1, tool: "execute_cli", status: "running" }),
    srv("tool_result", { tool: "execute_cli", status: "success", stdout: "a\nb", duration_ms: 12 }),
    srv("tool_result", { tool: "other", status: "error", stdout: "" }),
  ]);
  const step = s.entries.find((e) => e.kind === "step");
  assert.equal(step.result.status, "success");
  assert.equal(step.result.stdout, "a\nb");
  assert.equal(step.result.durationMs, 12);
  assert.equal(s.entries.filter((e) => e.kind === "tool_result").length, 1);
});

test("tool_result keeps stderr and the exit code of a failing command", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "a" },
    srv("agent_progress", { step: 1, tool: "execute_cli", status: "running" }),
    srv("tool_result", { tool: "execute_cli", status: "error", stdout: "out\n", stderr: "err\n", exit_code: 3 }),
  ]);
  const step = s.entries.find((e) => e.kind === "step");
  assert.equal(step.result.stdout, "out\n");
  assert.equal(step.result.stderr, "err\n");
  assert.equal(step.result.exitCode, 3);
});

test("tool_result keeps the desktop's note that it cut the output", () => {
  const note = "stdout truncated: kept the first 51200 bytes, dropped 9 bytes.";
  const s = run([
    { type: "user_intent", id: "i1", text: "a" },
    srv("agent_progress", { step: 1, tool: "execute_cli", status: "running" }),
    srv("tool_result", { tool: "execute_cli", status: "success", stdout: "x", result: { truncated: true, note } }),
  ]);
  const step = s.entries.find((e) => e.kind === "step");
  assert.equal(step.result.truncated, true);
  assert.equal(step.result.note, note);
});

test("agent_result ends the run, keeps session_id, and replaces a duplicate streamed text", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "a" },
    srv("agent_progress", { step: 1, tool: "t", status: "running" }),
    srv("agent_text", { text: "All done." }),
    srv("agent_result", { answer: "All done.", steps_taken: 3, duration_ms: 4200, session_id: "sess-9" }),
  ]);
  assert.deepEqual(kinds(s), ["user", "step", "result"]);
  const r = s.entries[2];
  assert.equal(r.answer, "All done.");
  assert.equal(r.steps, 3);
  assert.equal(s.running, false);
  assert.equal(s.sessionId, "sess-9");
  assert.equal(s.entries[1].status, "stopped", "a step still running when the run ended is shown as stopped");
});

test("a step the desktop reports as cancelled is shown as stopped, keeping what it ran", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "a" },
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: sleep 40", status: "running" }),
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Stopped before it finished.", status: "cancelled" }),
  ]);
  const step = s.entries[1];
  assert.equal(step.status, "stopped");
  assert.equal(step.action, "Running: sleep 40");
});

test("a run that ends leaves no question waiting: agent_result and an idle desktop both close it", () => {
  const ask = srv("agent_confirmation_request", { tool: "execute_cli", command: "rm -r x" }, "req-1");
  for (const end of [srv("agent_result", { answer: "Stopped.", status: "cancelled" }), srv("state_update", { ai_state: "idle" })]) {
    const s = run([{ type: "user_intent", id: "i1", text: "a" }, ask, end]);
    assert.equal(s.entries.find((e) => e.kind === "confirm").decision, "unanswered", end.msg.type);
    assert.equal(s.confirmation, null);
  }
});

test("agent_result keeps how the run ended", () => {
  const s = run([{ type: "user_intent", id: "i1", text: "list my files" }, srv("agent_result", { answer: "No model is configured.", status: "no_model", duration_ms: 0 })]);
  assert.equal(s.entries.at(-1).kind, "result");
  assert.equal(s.entries.at(-1).status, "no_model");
  assert.equal(s.running, false);
  assert.equal(run([srv("agent_result", { answer: "ok" })]).entries[0].status, null, "an older desktop sends no status");
});

test("agent_result differing from the streamed text is added after it", () => {
  const s = run([srv("agent_text", { text: "Working" }), srv("agent_result", { answer: "Finished" })]);
  assert.deepEqual(kinds(s), ["text", "result"]);
  assert.equal(s.entries[0].streaming, false);
});

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A server message as the desktop sends it over a data channel of `limit` bytes (contop/core/oversize.py). */
function overDataChannel(type, payload, limit = 256 * 1024) {
  const script = "import sys; from contop.core.oversize import fit_envelope; sys.stdout.write(fit_envelope(sys.stdin.read(), int(sys.argv[1]))[0])";
  const envelope = JSON.stringify({ type, id: `m-${Math.random()}`, payload });
  const out = execFileSync(`${ROOT}.venv/bin/python`, ["-c", script, String(limit)], { cwd: ROOT, input: envelope, maxBuffer: 1 << 24 });
  const msg = JSON.parse(out.toString("utf-8"));
  return { type: "server", msg, now: 1000 };
}

test("an answer the desktop cut to fit the data channel replaces its streamed text: one answer card", () => {
  // A long answer, streamed in pieces as a model does, with characters of every UTF-8 length.
  const answer = `## Report\n${Array.from({ length: 12000 }, (_, i) => `Line ${i}: naïve café 東京 😀 ok.`).join("\n")}\nThe end.`;
  const pieces = answer.match(/[^]{1,4000}/gu);
  const result = overDataChannel("agent_result", { answer, status: "completed", steps_taken: 0, session_id: "s1" });
  assert.match(result.msg.payload.answer, /characters cut: the message was too large for the data channel/);
  const s = run([{ type: "user_intent", id: "i1", text: "report" }, ...pieces.map((text) => srv("agent_text", { text })), result]);
  assert.deepEqual(kinds(s), ["user", "result"], "the answer is shown (and stored) once");
  assert.equal(s.entries[1].answer, answer, "the card shows the whole answer, as streamed");
  assert.equal(s.entries[1].status, "completed");

  // Streamed in one piece, the text was cut too (differently): still one card.
  const whole = overDataChannel("agent_text", { text: answer });
  assert.match(whole.msg.payload.text, /characters cut/);
  const t = run([{ type: "user_intent", id: "i1", text: "report" }, whole, result]);
  assert.deepEqual(kinds(t), ["user", "result"]);

  // Another text of the same length, differing at its beginning or its end, is not that answer.
  for (const other of [`X${answer.slice(1)}`, `${answer.slice(0, -1)}!`]) {
    const u = run([{ type: "user_intent", id: "i1", text: "report" }, srv("agent_text", { text: other }), result]);
    assert.deepEqual(kinds(u), ["user", "text", "result"]);
    assert.equal(u.entries[1].text, other);
  }
});

test("confirmation request opens, answer closes and records the decision", () => {
  let s = run([srv("agent_confirmation_request", { tool: "execute_cli", command: "rm -rf x", reason: "destructive_command", voice_message: "Delete x?" }, "req-1")]);
  assert.equal(s.confirmation.requestId, "req-1");
  assert.equal(s.confirmation.isPlan, false);
  assert.equal(s.entries.at(-1).decision, null);
  s = reduce(s, { type: "confirmation_answered", approved: false });
  assert.equal(s.confirmation, null);
  assert.equal(s.entries.at(-1).decision, "denied");
  assert.equal(reduce(s, { type: "confirmation_answered", approved: true }), s);
});

test("plan approval is flagged", () => {
  const s = run([srv("agent_confirmation_request", { tool: "plan", command: "1. a\n2. b", reason: "plan_approval" })]);
  assert.equal(s.confirmation.isPlan, true);
});

test("errors show a sentence; a refused intent ends the pending run unless busy", () => {
  let s = run([{ type: "user_intent", id: "i1", text: "a" }, srv("error", { code: "not_available", message: "no agent", ref_id: "i1" })]);
  assert.equal(s.running, false);
  assert.match(s.entries.at(-1).text, /can't do that right now/);
  s = run([{ type: "user_intent", id: "i2", text: "b" }, srv("error", { code: "busy", message: "busy", ref_id: "i2" })]);
  assert.equal(s.running, true);
  assert.match(s.entries.at(-1).text, /already running/);
});

test("security alerts are kept until dismissed, status notes go to the thread", () => {
  let s = run([srv("security_alert", { reason: "overlay_killed", message: "Overlay gone" }, "a1"), srv("agent_status", { status_type: "vision_fallback", message: "m" })]);
  assert.equal(s.alerts.length, 1);
  assert.deepEqual(kinds(s), ["alert", "status"]);
  assert.deepEqual(s.lastStatus, { statusType: "vision_fallback", message: "m", at: 1000 });
  s = reduce(s, { type: "dismiss_alert", id: "a1" });
  assert.equal(s.alerts.length, 0);
});

test("state_update carries keep-awake, connection type, ai state and models", () => {
  let s = run([srv("state_update", { ai_state: "executing", keep_host_awake: true, connection_type: "temp", models: ["a", { id: "b", label: "B" }, 5] })]);
  assert.equal(s.keepAwake, true);
  assert.equal(s.connectionType, "temp");
  assert.equal(s.running, true);
  assert.deepEqual(s.models.map((m) => m.id), ["a", "b"]);
  s = reduce(s, { type: "set_model", model: "b" });
  s = reduce(s, srv("state_update", { ai_state: "idle", models: ["a"] }));
  assert.equal(s.model, null, "a model the desktop no longer offers is dropped");
  assert.equal(s.running, false);
  s = reduce(s, srv("state_update", { ai_state: "idle" }));
  assert.equal(s.models.length, 1, "absent models keep the last list");
});

test("a run the desktop reports idle without a result still ends; an idle before acceptance does not", () => {
  let s = run([{ type: "user_intent", id: "i1", text: "a" }, srv("state_update", { ai_state: "idle" })]);
  assert.equal(s.running, true, "idle from before the intent was taken up");
  s = run([srv("agent_text", { text: "Half an ans" }), srv("state_update", { ai_state: "idle" })], s);
  assert.equal(s.running, false);
  assert.equal(s.entries.at(-1).streaming, false);
  s = run([{ type: "user_intent", id: "i2", text: "b" }, srv("state_update", { ai_state: "executing" }), srv("state_update", { ai_state: "idle" })]);
  assert.equal(s.running, false);
});

test("away mode status and device control results", () => {
  let s = run([srv("away_mode_status", { away_mode: true, overlay_active: true })]);
  assert.deepEqual(s.away, { known: true, active: true, overlay: true });
  s = reduce(s, srv("device_control_result", { action: "keep_awake_on", status: "success" }));
  assert.match(s.notice.text, /keep awake on done/);
  const why = "keep host awake is saved as on, but is not in effect here (keep-awake not applied: no display)";
  s = reduce(s, srv("device_control_result", { action: "keep_awake_on", status: "error", message: why }));
  assert.equal(s.notice.text, `Desktop: ${why}`, "the desktop's reason, not a bare 'failed'");
  assert.equal(s.notice.tone, "warn");
});

test("keep-awake follows what the desktop answered, so the switch does not flip back", () => {
  let s = run([srv("state_update", { ai_state: "idle", keep_host_awake: false })]);
  s = reduce(s, srv("device_control_result", { action: "keep_awake_on", status: "success", keep_host_awake: true }));
  assert.equal(s.keepAwake, true);
  s = reduce(s, srv("device_control_result", { action: "keep_awake_off", status: "error", keep_host_awake: true }));
  assert.equal(s.keepAwake, true, "a refused change leaves it as the desktop has it");
  s = reduce(s, srv("device_control_result", { action: "wake", status: "success" }));
  assert.equal(s.keepAwake, true, "other actions say nothing about it");
  s = reduce(s, srv("device_control_result", { action: "keep_awake_off", status: "success", keep_host_awake: false }));
  assert.equal(s.keepAwake, false);
});

test("an away-mode refusal is kept while away mode is off and cleared once it engages", () => {
  const reason = "Set an Away Mode PIN on the desktop first.";
  let s = run([conn(ConnStatus.CONNECTED), { type: "unavailable", feature: "away", reason }]);
  s = reduce(s, srv("away_mode_status", { away_mode: false, overlay_active: false }));
  assert.equal(s.unavailable.away, reason, "still off: the last refusal says why");
  s = reduce(s, srv("away_mode_status", { away_mode: true, overlay_active: true }));
  assert.equal(s.unavailable.away, undefined);
  assert.deepEqual(s.away, { known: true, active: true, overlay: true });
});

test("manual control refused under Away Mode's lock is told again once the desk is unlocked", () => {
  const reason = "Away Mode is on: the desk's keyboard is locked.";
  let s = run([conn(ConnStatus.CONNECTED), srv("away_mode_status", { away_mode: true, overlay_active: true })]);
  s = reduce(s, { type: "unavailable", feature: "manual", reason });
  s = reduce(s, srv("away_mode_status", { away_mode: true, overlay_active: true }));
  assert.equal(s.unavailable.manual, reason, "still locked");
  s = reduce(s, srv("away_mode_status", { away_mode: false, overlay_active: false }));
  assert.equal(s.unavailable.manual, undefined, "disengaged: the next refusal is told");
  s = reduce(s, { type: "unavailable", feature: "manual", reason });
  s = reduce(s, srv("away_mode_status", { away_mode: true, overlay_active: false }));
  assert.equal(s.unavailable.manual, undefined, "engaged with no lock screen showing: keys reach the desk");
});

test("a thread reopened mid-run by a reload goes on with the desktop's next messages", () => {
  const stored = [
    { id: "user-1", kind: "user", text: "three steps", rev: 2 },
    { id: "step-2", kind: "step", step: 1, tool: "execute_cli", status: "completed", detail: "Running: echo one", rev: 3 },
    { id: "step-3", kind: "step", step: 2, tool: "execute_cli", status: "running", detail: "Running: sleep 8", rev: 1 },
  ];
  let s = reduce(initialState(), { type: "restore", entries: stored, sessionId: null, running: true });
  assert.equal(s.running, true);
  s = run([srv("agent_progress", { step: 2, tool: "execute_cli", status: "completed" }), srv("agent_result", { answer: "All three steps finished.", status: "completed" })], s);
  assert.deepEqual(kinds(s), ["user", "step", "step", "result"]);
  assert.equal(s.entries[2].status, "completed");
  assert.equal(s.running, false);
  const again = reduce(initialState(), { type: "restore", entries: s.entries });
  assert.equal(again.entries[0].id, "r0:user-1", "a second reload does not stack id prefixes");
  assert.equal(again.running, false, "an ended run stays ended");
});

test("new session clears the thread; restore replaces it", () => {
  let s = run([{ type: "user_intent", id: "i1", text: "a" }, srv("agent_result", { answer: "b", session_id: "s1" })]);
  s = reduce(s, { type: "new_session" });
  assert.equal(s.entries.length, 0);
  assert.equal(s.sessionId, null);
  s = reduce(s, { type: "restore", entries: [{ id: "user-1", kind: "user", text: "old", rev: 4 }], sessionId: "s0" });
  assert.equal(s.sessionId, "s0");
  assert.equal(s.entries.length, 1);
  s = reduce(s, { type: "user_intent", id: "1", text: "new" });
  const ids = s.entries.map((e) => e.id);
  assert.equal(new Set(ids).size, 2, `restored ids must not collide with new ones: ${ids}`);
});

const conn = (status) => ({ type: "conn", conn: { status } });
const reconnected = [conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)];

test("a reconnect keeps manual mode and a pending confirmation; disconnecting ends both", () => {
  let s = run([conn(ConnStatus.CONNECTED), { type: "manual", enabled: true }, srv("agent_confirmation_request", { tool: "t" }, "req-1")]);
  s = reduce(s, conn(ConnStatus.RECONNECTING));
  assert.equal(s.manual, true, "the user's choice, re-sent to the desktop once connected");
  assert.equal(s.confirmation.requestId, "req-1", "kept (the dialog is only hidden) while the link heals");
  s = reduce(s, { type: "conn", conn: { status: ConnStatus.CONNECTED }, healed: true });
  assert.equal(s.confirmation.requestId, "req-1", "the same link: the desktop still waits for the answer");
  s = run([conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)], s);
  assert.equal(s.manual, true);
  // A new connection: the desktop asks again if it still waits (same id), else the question is over.
  assert.equal(s.confirmation, null);
  assert.equal(s.entries.find((e) => e.requestId === "req-1").decision, "unanswered", "lost with the link, not expired");
  s = reduce(s, srv("agent_confirmation_request", { tool: "t" }, "req-1"));
  assert.equal(s.confirmation.requestId, "req-1");
  assert.equal(s.entries.filter((e) => e.requestId === "req-1").length, 1);
  assert.equal(s.entries.find((e) => e.requestId === "req-1").decision, null, "waiting again");
  s = reduce(s, conn(ConnStatus.IDLE));
  assert.equal(s.manual, false);
  assert.equal(s.confirmation, null);
});

test("after a reconnect the first idle state_update ends a run whose intent may never have reached the desktop", () => {
  let s = run([conn(ConnStatus.CONNECTED), { type: "user_intent", id: "i1", text: "open the browser" }, ...reconnected]);
  assert.equal(s.running, true);
  s = reduce(s, srv("state_update", { ai_state: "idle" }));
  assert.equal(s.running, false);
  assert.equal(s.pendingIntent, null);
  const note = s.entries.at(-1);
  assert.equal(note.kind, "error");
  assert.equal(note.code, "not_delivered");
  assert.match(note.text, /may not have reached the desktop/);
  // Only the first one is authoritative: later, an idle before the desktop takes an intent up changes nothing.
  s = run([{ type: "user_intent", id: "i2", text: "open the browser" }, srv("state_update", { ai_state: "idle" })], s);
  assert.equal(s.running, true);
  assert.equal(s.pendingIntent, "i2");
});

test("after a reconnect an executing state keeps the run, and a state_update without ai_state decides nothing", () => {
  let s = run([conn(ConnStatus.CONNECTED), { type: "user_intent", id: "i1", text: "a" }, ...reconnected]);
  s = reduce(s, srv("state_update", { keep_host_awake: true }));
  assert.equal(s.running, true);
  s = reduce(s, srv("state_update", { ai_state: "executing" }));
  assert.equal(s.running, true);
  assert.equal(s.pendingIntent, null);
  assert.equal(kinds(s).includes("error"), false);
  s = reduce(s, srv("state_update", { ai_state: "idle" }));
  assert.equal(s.running, false, "the run handed over to the new connection ends as usual");
});

test("a link that healed by itself is no reconnect: a later idle ends the run as usual, without a note", () => {
  const s = run([
    conn(ConnStatus.CONNECTED),
    { type: "user_intent", id: "i1", text: "a" },
    srv("state_update", { ai_state: "executing" }),
    conn(ConnStatus.RECONNECTING),
    { type: "conn", conn: { status: ConnStatus.CONNECTED }, healed: true },
    srv("state_update", { ai_state: "idle" }),
  ]);
  assert.equal(s.running, false);
  assert.equal(kinds(s).includes("error"), false);
});

test("an intent sent after a reconnect, before the desktop's greeting, is not ended by that greeting", () => {
  const s = run([conn(ConnStatus.CONNECTED), ...reconnected, { type: "user_intent", id: "i1", text: "a" }, srv("state_update", { ai_state: "idle" })]);
  assert.equal(s.running, true);
  assert.equal(s.pendingIntent, "i1");
});

test("a run that ended on the desktop while the link was down ends with a note; its running steps are stopped", () => {
  const s = run([
    conn(ConnStatus.CONNECTED),
    { type: "user_intent", id: "i1", text: "a" },
    srv("agent_progress", { step: 1, tool: "t", status: "running" }),
    conn(ConnStatus.RECONNECTING),
    conn(ConnStatus.FAILED),
    conn(ConnStatus.CONNECTING),
    conn(ConnStatus.CONNECTED),
    srv("state_update", { ai_state: "idle" }),
  ]);
  assert.equal(s.running, false);
  assert.equal(s.entries.find((e) => e.kind === "step").status, "stopped");
  assert.equal(s.entries.at(-1).code, "interrupted");
});

test("an idle state_update answering Stop ends the stopping state, even before the intent was taken up", () => {
  let s = run([{ type: "user_intent", id: "i1", text: "a" }, { type: "stop_requested" }, srv("state_update", { ai_state: "idle" })]);
  assert.equal(s.stopping, false);
  assert.equal(s.running, false);
  assert.equal(s.pendingIntent, null);
  s = run([srv("state_update", { ai_state: "executing" }), { type: "stop_requested" }, srv("state_update", { ai_state: "idle" })]);
  assert.equal(s.stopping, false);
  assert.equal(s.running, false);
});

test("a confirmation the desktop asks again with the same id updates its entry instead of adding one", () => {
  const req = { tool: "execute_cli", command: "rm -rf x", reason: "destructive_command" };
  let s = run([
    conn(ConnStatus.CONNECTED),
    srv("agent_confirmation_request", req, "req-1"),
    conn(ConnStatus.RECONNECTING),
    { type: "confirmation_answered", approved: true }, // the answer went nowhere
    conn(ConnStatus.CONNECTED),
    srv("agent_confirmation_request", req, "req-1"),
  ]);
  const confirms = s.entries.filter((e) => e.kind === "confirm");
  assert.equal(confirms.length, 1);
  assert.equal(confirms[0].id, "confirm-req-1");
  assert.equal(confirms[0].decision, null, "asked again: waiting for an answer again");
  assert.ok(confirms[0].rev > 1, "re-rendered");
  assert.equal(s.confirmation.requestId, "req-1");
  s = reduce(s, { type: "confirmation_answered", approved: false });
  assert.equal(s.entries.filter((e) => e.kind === "confirm")[0].decision, "denied");
});

test("confirmation_expired marks its request expired and closes the dialog; a late answer changes nothing", () => {
  let s = run([
    srv("agent_confirmation_request", { tool: "execute_cli", command: "rm x" }, "req-1"),
    srv("agent_status", { status_type: "confirmation_expired", message: "execute_cli was not approved within 60 s", ref_id: "req-1" }),
  ]);
  const entry = s.entries.find((e) => e.kind === "confirm");
  assert.equal(entry.decision, "expired");
  assert.equal(s.confirmation, null);
  assert.equal(reduce(s, { type: "confirmation_answered", approved: true }), s);
  // Another request's expiry leaves the open one alone.
  s = run([
    srv("agent_confirmation_request", { tool: "t" }, "req-2"),
    srv("agent_status", { status_type: "confirmation_expired", message: "", ref_id: "req-1" }),
  ], s);
  assert.equal(s.confirmation.requestId, "req-2");
  assert.equal(s.entries.find((e) => e.id === "confirm-req-2").decision, null);
  assert.equal(s.entries.find((e) => e.id === "confirm-req-1").decision, "expired");
});

test("features refused as unavailable are asked again after every (re)connect", () => {
  let s = run([conn(ConnStatus.CONNECTED), { type: "unavailable", feature: "away" }, { type: "unavailable", feature: "manual", reason: "No display." }]);
  assert.equal(s.unavailable.away, true);
  assert.equal(s.unavailable.manual, "No display.");
  s = reduce(s, conn(ConnStatus.RECONNECTING));
  s = reduce(s, conn(ConnStatus.CONNECTED));
  assert.deepEqual(s.unavailable, {});
});

test("keepalive and unknown actions leave the state alone", () => {
  const s0 = initialState();
  assert.equal(reduce(s0, srv("keepalive", {})), s0);
  assert.equal(reduce(s0, { type: "nope" }), s0);
});

test("the store notifies subscribers on change only", () => {
  const store = createStore();
  let calls = 0;
  const off = store.subscribe(() => calls++);
  store.dispatch(srv("keepalive", {}));
  store.dispatch({ type: "set_thinking", on: true });
  assert.equal(calls, 1);
  off();
  store.dispatch({ type: "set_thinking", on: false });
  assert.equal(calls, 1);
  assert.equal(store.state.thinking, false);
});

test("normalizeModels", () => {
  assert.equal(normalizeModels(undefined), null);
  assert.deepEqual(normalizeModels(["x", { id: "y", name: "Why" }, { nope: 1 }, ""]), [
    { id: "x", label: "x" },
    { id: "y", label: "Why", provider: undefined },
  ]);
});

test("text-only models are badged NO VISION", () => {
  const [sub, api] = normalizeModels([
    { id: "anthropic:claude-sonnet-4-5", label: "Claude (subscription)", vision: false },
    { id: "gemini:gemini-2.5-flash", label: "Gemini", vision: true },
  ]);
  assert.equal(sub.vision, false);
  assert.equal(modelTitle(sub), "Claude (subscription) · NO VISION");
  assert.equal(modelTitle(api), "Gemini");
  assert.equal(modelTitle(undefined), "Default model");
});

test("the model chip says No model when the desktop has none, not a default that does not exist", () => {
  let s = initialState();
  assert.equal(chipModelTitle(s), "Default model", "nothing known yet: the desktop's own");
  s = reduce(s, srv("state_update", { ai_state: "idle", models: [] }));
  assert.equal(chipModelTitle(s), "No model");
  s = reduce(s, srv("state_update", { ai_state: "idle", models: [{ id: "g", label: "Gemini" }] }));
  assert.equal(chipModelTitle(s), "Gemini");
  // A desktop that leaves an empty list out: the run it refuses for want of a model says so.
  s = run([{ type: "user_intent", id: "i1", text: "a" }, srv("agent_result", { answer: "No model.", status: "no_model" })]);
  assert.equal(chipModelTitle(s), "No model");
  s = reduce(s, srv("state_update", { ai_state: "idle" }));
  assert.equal(chipModelTitle(s), "No model", "absent models change nothing");
  s = run([{ type: "user_intent", id: "i2", text: "b" }, srv("agent_result", { answer: "Done.", status: "completed" })], s);
  assert.equal(chipModelTitle(s), "Default model", "a model ran after all");
});

test("a model's note and NO VISION badge are split off its name, which alone may be cut to fit", () => {
  assert.deepEqual(splitModelTitle("scripted:a-long-script.json (test model)"), ["scripted:a-long-script.json", " (test model)"]);
  assert.deepEqual(splitModelTitle("Claude (subscription) · NO VISION"), ["Claude", " (subscription) · NO VISION"]);
  assert.deepEqual(splitModelTitle("anthropic:claude-x · NO VISION"), ["anthropic:claude-x", " · NO VISION"]);
  assert.deepEqual(splitModelTitle("Gemini"), ["Gemini", ""]);
  assert.deepEqual(splitModelTitle("(odd)"), ["(odd)", ""], "a name that is only a bracket keeps it");
  assert.deepEqual(splitModelTitle("a (b) (c)"), ["a (b)", " (c)"]);
});

test("a confirmation counts down from when it first arrived, even when asked again after a reconnect", () => {
  const ask = (now) => ({ ...srv("agent_confirmation_request", { tool: "execute_cli", command: "rm x", timeout_s: 60 }, "req-1"), now });
  let s = run([conn(ConnStatus.CONNECTED), ask(5000)]);
  assert.equal(s.confirmation.deadline, 65000);
  s = run([conn(ConnStatus.RECONNECTING), { type: "confirmation_answered", approved: true }, conn(ConnStatus.CONNECTED), ask(20000)], s);
  assert.equal(s.confirmation.deadline, 65000, "the desktop's wait did not start again");
  assert.equal(run([srv("agent_confirmation_request", { tool: "t" }, "req-2")]).confirmation.deadline, null, "an older desktop sends no timeout");
});

test("while a task runs, New and reopening a session keep its thread (they would hide Stop and misfile its answer)", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "long task" },
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: sleep 60", status: "running" }),
  ]);
  assert.equal(reduce(s, { type: "new_session" }), s, "New waits for the run to end");
  assert.equal(reduce(s, { type: "restore", entries: [{ id: "user-9", kind: "user", text: "old" }], sessionId: "s0" }), s);
  const done = run([srv("agent_result", { answer: "ok", status: "completed" })], s);
  assert.equal(reduce(done, { type: "new_session" }).entries.length, 0, "after the answer New starts afresh");
});

test("a second request while one runs adds nothing; one the desktop refuses as busy loses its bubble", () => {
  let s = run([
    { type: "user_intent", id: "i1", text: "first" },
    srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: sleep 5", status: "running" }),
  ]);
  assert.equal(reduce(s, { type: "user_intent", id: "i2", text: "second" }), s);
  // The phone thought nothing ran (a run started on the desktop): the intent is sent, then refused as busy.
  s = run([
    { type: "user_intent", id: "i3", text: "third" },
    srv("agent_progress", { step: 4, tool: "execute_cli", detail: "Running: x", status: "running" }),
    srv("error", { code: "busy", message: "busy", ref_id: "i3" }),
  ], initialState());
  assert.deepEqual(kinds(s), ["step", "error"], "no bubble for a request that never ran");
  assert.equal(s.running, true, "the other run goes on");
  s = run([srv("agent_progress", { step: 4, tool: "execute_cli", status: "completed" })], s);
  assert.deepEqual(kinds(s), ["step", "error"], "the running run's step is still the one card");
  assert.equal(s.entries[0].status, "completed");
});

test("a step the user did not approve is skipped, not failed, and its approval comes before it", () => {
  const step = { step: 1, tool: "execute_cli", detail: "Running: rm -r /tmp/x", status: "running" };
  let s = run([
    { type: "user_intent", id: "i1", text: "delete it" },
    srv("agent_progress", step),
    srv("agent_confirmation_request", { tool: "execute_cli", command: "rm -r /tmp/x", reason: "destructive_command", timeout_s: 60 }, "req-1"),
  ]);
  assert.deepEqual(kinds(s), ["user", "confirm", "step"], "the question sits before the step it gates");
  s = reduce(s, { type: "confirmation_answered", approved: false });
  s = run(
    [
      srv("tool_result", { tool: "execute_cli", status: "rejected", stdout: "", stderr: "" }),
      { ...srv("agent_progress", { ...step, detail: "Not approved, so it was skipped.", status: "failed" }), now: 61000 },
    ],
    s,
  );
  assert.equal(s.entries[2].status, "skipped");
  assert.equal(s.entries[1].decision, "denied");
  // An approval for another tool, or with no running step, is simply added at the end.
  const t = run([srv("agent_confirmation_request", { tool: "plan", command: "1. a", reason: "plan_approval" }, "req-2")], s);
  assert.equal(t.entries.at(-1).kind, "confirm");
});

test("a model failure is told once: the failed answer quoting it replaces its note", () => {
  const s = run([
    { type: "user_intent", id: "i1", text: "list files" },
    srv("agent_status", { status_type: "model_error", message: "ModelConnectionError: Connection error." }),
    srv("agent_result", { answer: "The model failed, so I stopped: ModelConnectionError: Connection error.", status: "failed" }),
  ]);
  assert.deepEqual(kinds(s), ["user", "result"]);
  // A note the answer does not repeat stays.
  const t = run([
    { type: "user_intent", id: "i1", text: "x" },
    srv("agent_status", { status_type: "model_error", message: "Rate limited. It was told and may try again." }),
    srv("agent_result", { answer: "Done anyway.", status: "completed" }),
  ]);
  assert.deepEqual(kinds(t), ["user", "status", "result"]);
});

test("two questions asked at once are answered one after the other, each by its own id", () => {
  const ask = (id, command) => srv("agent_confirmation_request", { tool: "execute_cli", command, timeout_s: 60 }, id);
  let s = run([{ type: "user_intent", id: "i1", text: "copy both" }, ask("req-a", "cp a conf.toml"), ask("req-b", "cp b x.toml")]);
  assert.equal(s.confirmation.requestId, "req-a", "the first stays on screen");
  assert.deepEqual(s.confirmQueue.map((c) => c.requestId), ["req-b"]);
  s = reduce(s, ask("req-b", "cp b x.toml")); // asked again after a reconnect: still once
  assert.deepEqual(s.confirmQueue.map((c) => c.requestId), ["req-b"]);
  s = reduce(s, { type: "confirmation_answered", approved: true });
  assert.equal(s.confirmation.requestId, "req-b", "the second gets the dialog");
  assert.equal(s.entries.find((e) => e.requestId === "req-a").decision, "approved");
  s = reduce(s, { type: "confirmation_answered", approved: false });
  assert.equal(s.confirmation, null);
  assert.equal(s.entries.find((e) => e.requestId === "req-b").decision, "denied");

  // One still waiting that expires leaves the queue; the open one is untouched.
  s = run([ask("req-c", "rm c"), ask("req-d", "rm d"), srv("agent_status", { status_type: "confirmation_expired", ref_id: "req-d" })], s);
  assert.equal(s.confirmation.requestId, "req-c");
  assert.deepEqual(s.confirmQueue, []);
  assert.equal(s.entries.find((e) => e.requestId === "req-d").decision, "expired");
  // The run's end closes every question.
  s = run([ask("req-e", "rm e"), srv("agent_result", { answer: "done" })], s);
  assert.equal(s.confirmation, null);
  assert.deepEqual(s.confirmQueue, []);
});
