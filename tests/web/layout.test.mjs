import test from "node:test";
import assert from "node:assert/strict";
import { layoutFor, rememberLayout, availableLayouts, orientationOf, DEFAULT_LAYOUT } from "../../contop/web/js/layout.js";

test("side by side is a landscape layout", () => {
  assert.ok(!availableLayouts("portrait").some((l) => l.id === "side"));
  assert.ok(availableLayouts("landscape").some((l) => l.id === "side"));
  assert.equal(availableLayouts("landscape").length, 5);
});

test("each orientation remembers its own layout", () => {
  let prefs = {};
  prefs = rememberLayout(prefs, "portrait", "video");
  prefs = rememberLayout(prefs, "landscape", "full");
  assert.equal(layoutFor(prefs, "portrait"), "video");
  assert.equal(layoutFor(prefs, "landscape"), "full");
});

test("invalid choices fall back to the defaults", () => {
  assert.equal(layoutFor({}, "portrait"), DEFAULT_LAYOUT.portrait);
  assert.equal(layoutFor({ portrait: "side" }, "portrait"), DEFAULT_LAYOUT.portrait);
  assert.deepEqual(rememberLayout({ portrait: "thread" }, "portrait", "side"), { ...DEFAULT_LAYOUT, portrait: "thread" });
});

test("orientation from the viewport", () => {
  assert.equal(orientationOf(390, 844), "portrait");
  assert.equal(orientationOf(844, 390), "landscape");
});
