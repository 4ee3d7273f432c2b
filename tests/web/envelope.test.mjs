import test from "node:test";
import assert from "node:assert/strict";
import { envelope, uuid, parseServerMessage, isFastAction, SERVER_TYPES } from "../../contop/web/js/envelope.js";

test("envelope has type, uuid id and payload", () => {
  const e = envelope("user_intent", { text: "hi" });
  assert.deepEqual(Object.keys(e), ["type", "id", "payload"]);
  assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(envelope("new_session").payload, {});
  assert.notEqual(uuid(), uuid());
});

test("mouse movement goes on the fast channel, clicks do not", () => {
  assert.ok(isFastAction("manual_control", { action: "mouse_move" }));
  // a lost or overtaken release would leave the button held: presses and releases go on the reliable channel
  assert.ok(!isFastAction("manual_control", { action: "mouse_down" }));
  assert.ok(!isFastAction("manual_control", { action: "mouse_up" }));
  assert.ok(!isFastAction("manual_control", { action: "click" }));
  assert.ok(!isFastAction("user_intent", { action: "mouse_move" }));
});

test("valid server messages parse from strings and objects", () => {
  const raw = JSON.stringify({ type: "agent_progress", id: "1", payload: { step: 1, tool: "execute_cli", status: "running" } });
  const r = parseServerMessage(raw);
  assert.ok(r.ok);
  assert.equal(r.msg.payload.tool, "execute_cli");
  assert.ok(parseServerMessage({ type: "keepalive", id: "k", payload: {} }).ok);
  for (const t of ["agent_result", "agent_text", "error", "state_update", "away_mode_status"]) assert.ok(SERVER_TYPES.includes(t));
});

test("malformed messages are refused with a reason", () => {
  const bad = [
    "not json",
    "[]",
    JSON.stringify({ id: "1", payload: {} }),
    JSON.stringify({ type: "agent_text", payload: { text: "x" } }),
    JSON.stringify({ type: "agent_text", id: "1", payload: [] }),
    JSON.stringify({ type: "agent_text", id: "1", payload: { text: 5 } }),
    JSON.stringify({ type: "no_such_type", id: "1", payload: {} }),
    JSON.stringify({ type: "agent_progress", id: "1", payload: { step: "3" } }),
    JSON.stringify({ type: "error", id: "1", payload: { code: "busy" } }),
  ];
  for (const b of bad) {
    const r = parseServerMessage(b);
    assert.equal(r.ok, false, b);
    assert.equal(typeof r.reason, "string");
  }
});
