import test from "node:test";
import assert from "node:assert/strict";
import { shortModel } from "../../contop/web/js/ui/thread.js";

test("model names lose file paths but keep provider prefixes", () => {
  assert.equal(shortModel("scripted:/tmp/pytest-of-root/x/script.json (test model)"), "scripted:script.json (test model)");
  assert.equal(shortModel("openrouter:anthropic/claude-sonnet-4"), "openrouter:anthropic/claude-sonnet-4");
  assert.equal(shortModel("gemini-2.5-flash"), "gemini-2.5-flash");
  assert.equal(shortModel(null), null);
});
