import test from "node:test";
import assert from "node:assert/strict";
import {
  reconnectPlan,
  shouldShowReconnecting,
  isFatalClose,
  giveUpInfo,
  retriesByItself,
  connectMessages,
  onceById,
  BACKOFF_MS,
  AUTO_RETRY_MS,
} from "../../contop/web/js/reconnect.js";
import { describeClose, describeFingerprintMismatch } from "../../contop/web/js/errors.js";

test("backs off 1, 2, 3, 5, 8 seconds then gives up", () => {
  const delays = [];
  for (let i = 0; ; i++) {
    const p = reconnectPlan(i);
    if (!p) break;
    delays.push(p.delayMs);
  }
  assert.deepEqual(delays, [1000, 2000, 3000, 5000, 8000]);
  assert.deepEqual(BACKOFF_MS, delays);
  assert.equal(reconnectPlan(-1), null);
  assert.equal(reconnectPlan(1.5), null);
});

test("every attempt is a full reconnect: a plan is only its delay (no ICE restart)", () => {
  for (let i = 0; i < BACKOFF_MS.length; i++) assert.deepEqual(reconnectPlan(i), { delayMs: BACKOFF_MS[i] });
});

test("short drops stay silent for 2 s", () => {
  assert.equal(shouldShowReconnecting(1000, 2500), false);
  assert.equal(shouldShowReconnecting(1000, 3000), true);
});

test("fatal close codes", () => {
  assert.ok(isFatalClose(4001) && isFatalClose(4002) && isFatalClose(4003));
  assert.ok(!isFatalClose(4029) && !isFatalClose(1013) && !isFatalClose(1006));
});

test("giving up says why the last attempt failed when the desktop said so", () => {
  for (const code of [4029, 1013, 1008]) {
    const last = { ...describeClose(code, "invalid offer"), code };
    const info = giveUpInfo(last);
    assert.equal(info.kind, last.kind, `close ${code}`);
    assert.equal(info.title, last.title);
    assert.match(info.message, /after 5 attempts/);
    assert.equal(info.action, "retry");
  }
  for (const last of [null, undefined, { ...describeClose(1006), code: 1006 }, describeClose(0, "The desktop did not answer in time")]) {
    const info = giveUpInfo(last);
    assert.equal(info.kind, "lost");
    assert.match(info.message, /stopped answering after 5 attempts/);
    assert.equal(info.action, "retry");
  }
});

test("what the phone says on every (re)connect: a pending reset first, then the conversation to resume", () => {
  assert.deepEqual(connectMessages({}), [{ type: "away_mode_status", payload: {}, quiet: "away" }]);
  assert.deepEqual(connectMessages({ resetPending: true, serverSessionId: null, manual: true }), [
    { type: "away_mode_status", payload: {}, quiet: "away" },
    { type: "new_session", payload: {} },
    { type: "set_manual_mode", payload: { enabled: true } },
  ]);
  assert.deepEqual(connectMessages({ serverSessionId: "srv-1" }).map((m) => m.type), ["away_mode_status", "session_context"]);
  assert.deepEqual(connectMessages({ serverSessionId: "srv-1" })[1], { type: "session_context", payload: { session_id: "srv-1" }, quiet: "resume" });
  // A session reopened from history after the reset: reset, then resume that one.
  assert.deepEqual(connectMessages({ resetPending: true, serverSessionId: "srv-2" }).map((m) => m.type), ["away_mode_status", "new_session", "session_context"]);
});

test("a message sent again after a lost link is handled once; a re-asked confirmation is not dropped", () => {
  const firstTime = onceById(3);
  assert.equal(firstTime({ type: "agent_text", id: "a" }), true);
  assert.equal(firstTime({ type: "agent_text", id: "a" }), false);
  assert.equal(firstTime({ type: "agent_confirmation_request", id: "c" }), true);
  assert.equal(firstTime({ type: "agent_confirmation_request", id: "c" }), true);
  for (const id of ["b", "d", "e"]) firstTime({ type: "agent_text", id });
  assert.equal(firstTime({ type: "agent_text", id: "a" }), true); // forgotten: only the latest ids are kept
});

test("a Stop that may have been lost in the drop is sent again on connect", () => {
  const kinds = connectMessages({ stopping: true }).map((m) => m.type);
  assert.deepEqual(kinds, ["away_mode_status", "execution_stop"]);
  assert.ok(!connectMessages({ stopping: false }).some((m) => m.type === "execution_stop"));
});

test("after giving up the phone keeps trying by itself, except when the desktop refused it for good", () => {
  assert.equal(AUTO_RETRY_MS, 30000);
  assert.ok(retriesByItself(giveUpInfo(null)), "the desktop stopped answering");
  for (const code of [4029, 1013, 1008, 1006]) assert.ok(retriesByItself({ ...describeClose(code), code }), `close ${code}`);
  assert.ok(retriesByItself(giveUpInfo({ ...describeClose(4029), code: 4029 })));
  for (const code of [4001, 4002, 4003]) assert.ok(!retriesByItself({ ...describeClose(code), code }), `close ${code}`);
  assert.ok(!retriesByItself(describeFingerprintMismatch()));
  assert.ok(!retriesByItself(null));
});
