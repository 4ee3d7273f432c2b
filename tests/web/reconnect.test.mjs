import test from "node:test";
import assert from "node:assert/strict";
import { reconnectPlan, shouldShowReconnecting, isFatalClose, BACKOFF_MS } from "../../contop/web/js/reconnect.js";

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
