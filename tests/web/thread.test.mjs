import test from "node:test";
import assert from "node:assert/strict";
import { shortModel, resultLook, resultFooter, outputSummary, outputNote, stepText } from "../../contop/web/js/ui/thread.js";
import { countdownText, visibleCommand } from "../../contop/web/js/ui/dom.js";

test("model names lose file paths but keep provider prefixes", () => {
  assert.equal(shortModel("scripted:/tmp/pytest-of-root/x/script.json (test model)"), "scripted:script.json (test model)");
  assert.equal(shortModel("openrouter:anthropic/claude-sonnet-4"), "openrouter:anthropic/claude-sonnet-4");
  assert.equal(shortModel("gemini-2.5-flash"), "gemini-2.5-flash");
  assert.equal(shortModel(null), null);
});

test("an answer card is headed by how the run ended: only a completed run is Done", () => {
  assert.deepEqual(resultLook("completed"), { title: "Done", tone: "ok", icon: "check" });
  assert.equal(resultLook(undefined).title, "Done", "an older desktop sends no status");
  const heads = Object.fromEntries(["failed", "cancelled", "timeout", "limit", "no_model"].map((s) => [s, resultLook(s).title]));
  assert.deepEqual(heads, {
    failed: "Failed",
    cancelled: "Stopped",
    timeout: "Timed out",
    limit: "Stopped at the step limit",
    no_model: "No model configured",
  });
  for (const s of ["failed", "cancelled", "timeout", "limit", "no_model", "something_new"]) {
    assert.notEqual(resultLook(s).tone, "ok", s);
    assert.notEqual(resultLook(s).title, "Done", s);
  }
});

test("an answer card's footer leaves out a zero duration and zero steps", () => {
  assert.deepEqual(resultFooter({ steps: 0, durationMs: 0, model: null }), []);
  assert.deepEqual(resultFooter({ steps: 1, durationMs: 4200, model: "gemini-2.5-flash" }), ["1 step", "4.2 s", "gemini-2.5-flash"]);
  assert.deepEqual(resultFooter({ steps: 3, durationMs: null, model: null }), ["3 steps"]);
});

test("an output's summary shows a non-zero exit code, not a zero one", () => {
  assert.equal(outputSummary({ status: "error", stdout: "", stderr: "ls: cannot access", exitCode: 2 }), "error · exit code 2");
  assert.equal(outputSummary({ status: "success", stdout: "a", stderr: "", exitCode: 0 }), "success");
});

test("output the desktop cut ends with its note; complete output has none", () => {
  const note = "stdout truncated: kept the first 51200 bytes, dropped 120 bytes.";
  assert.equal(outputNote({ truncated: true, note }), `Output cut: ${note}`);
  assert.equal(outputNote({ truncated: true, note: "" }), "Output cut: the desktop kept only part of it.");
  assert.equal(outputNote({ truncated: false, note: "" }), "");
});

test("a step stopped with its run no longer reads Running", () => {
  const t = stepText({ status: "stopped", detail: "Running: sleep 30" });
  assert.equal(t.what, "sleep 30");
  assert.equal(t.said, "Stopped before it finished.");
});

test("a finished step still names what it ran, and says what came of it below", () => {
  const ran = { action: "Running: ls /tmp/x", detail: "Command completed successfully.", status: "completed" };
  assert.deepEqual(stepText(ran), { what: "ls /tmp/x", said: "Command completed successfully." });
  const failed = { ...ran, detail: "The command failed with exit code 2.", status: "failed" };
  assert.deepEqual(stepText(failed), { what: "ls /tmp/x", said: "The command failed with exit code 2." });
  assert.deepEqual(stepText({ ...ran, detail: ran.action }), { what: "ls /tmp/x", said: "" }, "no completion detail");
  assert.deepEqual(stepText({ action: null, detail: "Looking", status: "failed" }), { what: "Looking", said: "" });
});

test("an output ending with a newline is counted by its lines, not one more", () => {
  const nine = Array.from({ length: 9 }, (_, i) => `row ${i + 1}\n`).join("");
  assert.equal(outputSummary({ status: "success", stdout: nine, stderr: "" }), "success · 9 lines");
  assert.equal(outputSummary({ status: "success", stdout: "a\nb", stderr: "" }), "success · 2 lines");
  assert.equal(outputSummary({ status: "error", stdout: "out\n", stderr: "err\n", exitCode: 3 }), "error · exit code 3 · 2 lines");
  assert.equal(outputSummary({ status: "success", stdout: "one\n", stderr: "" }), "success");
});

test("the approval countdown reads like a clock", () => {
  assert.deepEqual([75, 60, 9.2, 0, -3].map(countdownText), ["1:15", "1:00", "0:10", "0:00", "0:00"]);
});

test("a cut output says how many lines arrived and that the rest was cut", () => {
  const stdout = Array.from({ length: 10385 }, (_, i) => `row ${i}`).join("\n");
  assert.equal(outputSummary({ status: "success", stdout, stderr: "", truncated: true }), "success · first 10,385 lines shown — output cut");
  assert.equal(outputSummary({ status: "success", stdout, stderr: "", truncated: false }), "success · 10385 lines");
});

test("a skipped step says it was not approved, with no run time", () => {
  assert.deepEqual(stepText({ status: "skipped", action: "Running: rm -r /x", detail: "Not approved, so it was skipped." }), {
    what: "rm -r /x",
    said: "Not approved, so it was skipped.",
  });
});

test("an approval card shows what a command would hide: escapes, bidi overrides, zero-width characters", () => {
  assert.equal(
    visibleCommand("rm -rf ~/x # \r\x1b[2Kls \u202etxt.exe\u200b"),
    "rm -rf ~/x # \\r\\x1b[2Kls \\u202etxt.exe\\u200b",
  );
  assert.equal(visibleCommand("for f in *; do\n\techo \"$f\"; done"), "for f in *; do\n\techo \"$f\"; done");
  assert.equal(visibleCommand("ls ~/Téléchargements 日本"), "ls ~/Téléchargements 日本");
});

test("a step stopped while it waited for approval says it never ran, in the desktop's words", () => {
  const waited = {
    action: "Running: rm old.txt",
    detail: "Stopped while it waited for your approval, so it did not run.",
    status: "stopped",
  };
  assert.deepEqual(stepText(waited), { what: "rm old.txt", said: waited.detail });
  // stopped by the run's end with no word from the desktop: the generic sentence
  assert.equal(stepText({ ...waited, detail: waited.action }).said, "Stopped before it finished.");
});
