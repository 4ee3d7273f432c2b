// Another device's task on the same desktop (state_update's desk_busy): this phone waits without taking the run
// for its own, and a request it sends meanwhile is refused with the desktop's sentence naming that device.
import test from "node:test";
import assert from "node:assert/strict";
import { initialState, reduce, ConnStatus } from "../../contop/web/js/store.js";

const srv = (type, payload, id = `m-${Math.random()}`) => ({ type: "server", msg: { type, id, payload }, now: 1000 });
const run = (actions, state = initialState()) => actions.reduce(reduce, state);
const BUSY = "A task from Pixel 7 is running on this desktop; wait for its answer or stop it from that device.";

test("desk_busy says whose task holds the desk, and its end frees it", () => {
  let s = run([srv("state_update", { ai_state: "idle", desk_busy: { device: "Pixel 7" } })]);
  assert.deepEqual(s.deskBusy, { device: "Pixel 7" });
  assert.equal(s.running, false, "the run is not this phone's: no Stop, no answer to wait for");
  s = run([srv("state_update", { ai_state: "idle", desk_busy: null })], s);
  assert.equal(s.deskBusy, null);
  // A desktop that does not send the field leaves what is known as it is; a malformed one counts as busy.
  s = run([srv("state_update", { ai_state: "idle", desk_busy: { device: "Pixel 7" } }), srv("state_update", { keep_host_awake: true })]);
  assert.deepEqual(s.deskBusy, { device: "Pixel 7" });
  assert.deepEqual(run([srv("state_update", { desk_busy: { device: 3 } })]).deskBusy, { device: "another device" });
});

test("a request refused because another device's task runs shows the desktop's sentence and runs nothing", () => {
  const s = run([
    srv("state_update", { ai_state: "idle", desk_busy: { device: "Pixel 7" } }),
    { type: "user_intent", id: "i1", text: "open the browser" },
    srv("error", { code: "busy", message: BUSY, ref_id: "i1" }),
  ]);
  assert.deepEqual(s.entries.map((e) => e.kind), ["error"], "the request's bubble goes: it never ran");
  assert.equal(s.entries[0].text, BUSY);
  assert.equal(s.running, false, "nothing of this phone runs: Send comes back, no Stop");
  assert.equal(s.pendingIntent, null);
});

test("this phone's own run refused a second request still runs (no desk_busy: the run is ours)", () => {
  const s = run([
    srv("state_update", { ai_state: "executing", desk_busy: null }),
    { type: "user_intent", id: "i2", text: "again" },
    srv("error", { code: "busy", message: "an execution is already running; stop it first or wait for its result", ref_id: "i2" }),
  ]);
  assert.equal(s.running, true);
  assert.match(s.entries.at(-1).text, /already running/);
});

test("disconnecting forgets whose task it was: the next greeting says it again", () => {
  let s = run([srv("state_update", { desk_busy: { device: "Pixel 7" } })]);
  s = reduce(s, { type: "conn", conn: { status: ConnStatus.IDLE } });
  assert.equal(s.deskBusy, null);
});
