import test from "node:test";
import assert from "node:assert/strict";
import { describeClose, describeServerError, describeRefusal, describeFingerprintMismatch, statusTitle } from "../../contop/web/js/errors.js";
import * as intents from "../../contop/web/js/intents.js";
import { userIntentPayload, clickPayload, scrollPayload, keyPayload, typePayload, pointerPayload, KEY_GRID } from "../../contop/web/js/intents.js";

test("close codes explain themselves with the right action", () => {
  assert.equal(describeClose(4001).action, "rescan");
  assert.equal(describeClose(4003).action, "rescan");
  assert.equal(describeClose(4002).kind, "replaced");
  assert.equal(describeClose(4029).action, "retry");
  assert.equal(describeClose(1013).kind, "not_available");
  assert.equal(describeClose(1006).kind, "unreachable");
  assert.match(describeClose(4001).message, /scan a new code/i);
  assert.equal(describeFingerprintMismatch().action, "rescan");
});

test("a 1008 close is a refused offer, not a network problem (unless the link never came up)", () => {
  const refused = describeClose(1008, "invalid offer");
  assert.equal(refused.kind, "refused");
  assert.equal(refused.title, "The desktop refused this connection");
  assert.match(refused.message, /refused this phone's connection offer/);
  assert.match(refused.message, /[Uu]pdate/);
  assert.doesNotMatch(refused.message, /same network/);
  assert.equal(refused.action, "retry");
  assert.equal(describeClose(1008, "connection not established").kind, "unreachable");
});

test("a refused request the user made reads the desktop's own reason when it gives one", () => {
  assert.equal(describeRefusal({ code: "not_available", message: "set an Away Mode PIN on the desktop first" }), "Set an Away Mode PIN on the desktop first.");
  assert.equal(describeRefusal({ code: "not_available", message: "No PIN set." }), "No PIN set.");
  assert.match(describeRefusal({ code: "not_available", message: " " }), /can't do that right now/);
  assert.match(describeRefusal({ code: "unknown_type", message: "unknown message type 'x'" }), /doesn't know that request/);
  assert.equal(statusTitle("confirmation_expired"), "Approval expired");
});

test("server errors read like sentences", () => {
  assert.match(describeServerError({ code: "busy", message: "x" }), /already running/);
  assert.doesNotMatch(describeServerError({ code: "busy", message: "x" }), /\(x\)/);
  assert.match(describeServerError({ code: "internal", message: "boom" }), /\(boom\)$/);
  assert.match(describeServerError({ code: "weird" }), /reported an error/);
  assert.equal(statusTitle("sandbox_fallback"), "Running in the sandbox");
  assert.equal(statusTitle("zzz"), "Notice");
});

test("user_intent carries model and thinking only when chosen", () => {
  assert.deepEqual(userIntentPayload("  hi "), { text: "hi" });
  assert.deepEqual(userIntentPayload("hi", { model: "m", thinking: true }), { text: "hi", model: "m", thinking: true });
});

test("manual control payloads", () => {
  assert.deepEqual(clickPayload({ x: 1, y: 2 }), { action: "click", x: 1, y: 2 });
  assert.deepEqual(clickPayload(null, "right"), { action: "right_click" });
  assert.deepEqual(scrollPayload(-5, { x: 3, y: 4 }), { action: "scroll", dy: -5, direction: "up", clicks: 5, x: 3, y: 4 });
  assert.deepEqual(scrollPayload(5, null), { action: "scroll", dy: 5, direction: "down", clicks: 5 });
  assert.deepEqual(keyPayload("ctrl+c"), { action: "key", keys: "ctrl+c" });
  assert.deepEqual(typePayload("héllo"), { action: "type", text: "héllo" });
  assert.deepEqual(pointerPayload("mouse_down", null), { action: "mouse_down" });
  const keys = KEY_GRID.map((k) => k.keys);
  for (const k of ["escape", "tab", "enter", "backspace", "delete", "up", "down", "left", "right", "ctrl+c", "ctrl+v", "ctrl+z", "ctrl+s"]) {
    assert.ok(keys.includes(k), k);
  }
});

test("keys and text are told apart from pointer traffic (each refusal of them is told)", () => {
  const { isKeyboardAction } = intents;
  assert.equal(typeof isKeyboardAction, "function");
  assert.equal(isKeyboardAction(keyPayload("ctrl+c")), true);
  assert.equal(isKeyboardAction(typePayload("hello")), true);
  for (const p of [clickPayload({ x: 1, y: 2 }), pointerPayload("mouse_move", { x: 1, y: 2 }), scrollPayload(3), null]) {
    assert.equal(isKeyboardAction(p), false, JSON.stringify(p));
  }
});
