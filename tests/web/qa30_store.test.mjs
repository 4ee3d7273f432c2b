// QA round 30, the phone's pure side: an approval still open when the link was replaced (the phone froze, the page
// was reloaded or closed and reopened) was answered "no" by the desktop when it lost the old link, so its step did
// not run. The card tells that one way in every case, and never "expired" while its time had not run out.

import test from "node:test";
import assert from "node:assert/strict";
import { initialState, reduce, ConnStatus } from "../../contop/web/js/store.js";
import { entriesForReload } from "../../contop/web/js/history.js";

const srv = (type, payload, id = `m-${Math.random()}`, now = 1000) => ({ type: "server", msg: { type, id, payload }, now });
const conn = (status, healed = false) => ({ type: "conn", conn: { status }, healed });
const run = (actions, state = initialState()) => actions.reduce(reduce, state);
const confirmEntry = (s) => s.entries.find((e) => e.kind === "confirm");
const LOST_DETAIL = "The connection to the phone was lost while it waited for your approval, so it did not run.";

// Connected and greeted; step 1 ran, step 2 (the file write) waits for its approval.
function asked(state = initialState()) {
  return run(
    [
      conn(ConnStatus.CONNECTING),
      conn(ConnStatus.CONNECTED),
      srv("state_update", { ai_state: "idle" }),
      { type: "user_intent", id: "i1", text: "write the project file" },
      srv("state_update", { ai_state: "executing" }),
      srv("agent_progress", { step: 1, tool: "execute_cli", detail: "Running: echo first", status: "running" }),
      srv("agent_progress", { step: 1, tool: "execute_cli", detail: "first", status: "completed" }),
      srv("agent_progress", { step: 2, tool: "execute_cli", detail: "Running: echo 'b = 2' > pyproject.toml", status: "running" }),
      srv("agent_confirmation_request", { tool: "execute_cli", command: "echo 'b = 2' > pyproject.toml", timeout_s: 60, call_id: "call-2" }, "req-2"),
    ],
    state,
  );
}

// What the desktop had queued for this phone when the new link opened (its outbox is flushed before its greeting).
const desktopEnd = [
  srv("agent_progress", { step: 2, tool: "execute_cli", detail: LOST_DETAIL, status: "cancelled" }),
  srv("agent_result", {
    answer: "Stopped: the connection to the phone was lost. 1 step(s) had run before the stop. The step waiting for your approval (execute_cli) did not run.",
    status: "cancelled",
    steps_taken: 1,
  }),
  srv("state_update", { ai_state: "idle" }),
];

function assertLostWithLink(s, label) {
  const entry = confirmEntry(s);
  assert.equal(entry.decision, "unanswered", `${label}: not "expired" (its 60 s had not run out)`);
  assert.equal(entry.lostWithLink, true, `${label}: the question was lost with the link`);
  assert.equal(s.confirmation, null, `${label}: the dialog of a question the desktop no longer waits for closes`);
}

test("a phone that froze while an approval was open: the question is lost with the link, not expired", () => {
  let s = asked();
  assert.equal(s.confirmation.requestId, "req-2");
  s = run([conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)], s); // a new link, not one that healed
  assertLostWithLink(s, "on the new link");
  s = run(desktopEnd, s);
  assertLostWithLink(s, "after the run's end");
  const step = s.entries.find((e) => e.kind === "step" && e.step === 2);
  assert.equal(step.status, "stopped");
  assert.equal(step.detail, LOST_DETAIL, "the desktop's own words: it did not run");
  assert.equal(s.running, false);
});

test("a page reloaded (or closed and reopened) while an approval was open says the same as a frozen one", () => {
  const before = asked();
  // The page's thread as stored, restored into a fresh page that then connects for the first time.
  let s = reduce(initialState(), { type: "restore", entries: entriesForReload(before.entries), sessionId: null, running: true });
  assert.equal(confirmEntry(s).decision, null);
  s = run([conn(ConnStatus.CONNECTING), conn(ConnStatus.CONNECTED)], s);
  assertLostWithLink(s, "reloaded, on the new link");
  s = run(desktopEnd, s);
  assertLostWithLink(s, "reloaded, after the run's end");
  // Closed and reopened later: the desktop's queue may be gone, its greeting alone ends the run; same words.
  let late = reduce(initialState(), { type: "restore", entries: entriesForReload(before.entries), sessionId: null, running: true });
  late = run([conn(ConnStatus.CONNECTING), conn(ConnStatus.CONNECTED), srv("state_update", { ai_state: "idle" })], late);
  assertLostWithLink(late, "reopened");
  assert.equal(late.running, false);
});

test("a question the desktop asks again over the new link waits again; a later Stop leaves it merely unanswered", () => {
  let s = run([conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)], asked());
  assertLostWithLink(s, "before the desktop asks again");
  // The old connection was handed over: the desktop asks again with the same id and the time left.
  s = reduce(s, srv("agent_confirmation_request", { tool: "execute_cli", command: "echo 'b = 2' > pyproject.toml", timeout_s: 45, call_id: "call-2" }, "req-2"));
  assert.equal(confirmEntry(s).decision, null, "waiting again");
  assert.equal(confirmEntry(s).lostWithLink, false);
  assert.equal(s.confirmation.requestId, "req-2");
  s = run(
    [
      { type: "stop_requested" },
      srv("agent_result", { answer: "Stopped at your request. The step waiting for your approval (execute_cli) did not run.", status: "cancelled" }),
    ],
    s,
  );
  assert.equal(confirmEntry(s).decision, "unanswered");
  assert.equal(confirmEntry(s).lostWithLink, false, "stopped by the user, over a link that lived");
});

test("the desktop's word that the question expired beats the phone's guess that it was lost with the link", () => {
  let s = run([conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)], asked());
  s = reduce(s, srv("agent_status", { status_type: "confirmation_expired", message: "execute_cli was not approved within 60 s, so it did not run", ref_id: "req-2" }));
  assert.equal(confirmEntry(s).decision, "expired");
  assert.equal(confirmEntry(s).lostWithLink, false);
});

test("a link that healed by itself keeps the question open, and a question of an earlier run is left alone", () => {
  let s = run([conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED, true)], asked());
  assert.equal(confirmEntry(s).decision, null);
  assert.equal(s.confirmation.requestId, "req-2", "the same link: the desktop still waits for the answer");
  // A later run: the earlier run's answered question is not touched by a new link.
  s = run([{ type: "confirmation_answered", approved: false }, ...desktopEnd.slice(1), { type: "user_intent", id: "i2", text: "again" }], s);
  assert.equal(confirmEntry(s).decision, "denied");
  s = run([conn(ConnStatus.RECONNECTING), conn(ConnStatus.CONNECTED)], s);
  assert.equal(confirmEntry(s).decision, "denied");
});
