import test from "node:test";
import assert from "node:assert/strict";
import { contentRect, boxToVideo, boxToVideoClamped, zoomAt, panBy, clampView, IDENTITY_VIEW } from "../../contop/web/js/coords.js";

test("letterboxing: a wide video in a tall box sits in the middle", () => {
  const r = contentRect(390, 400, 1920, 1080);
  assert.equal(r.width, 390);
  assert.ok(Math.abs(r.height - 219.375) < 1e-9);
  assert.ok(Math.abs(r.y - 90.3125) < 1e-9);
  assert.equal(r.x, 0);
  assert.equal(contentRect(0, 10, 10, 10), null);
  assert.equal(contentRect(10, 10, 0, 0), null);
});

test("box point to desktop pixels without zoom", () => {
  // centre of the box is the centre of the screen
  assert.deepEqual(boxToVideo(195, 200, 390, 400, 1920, 1080), { x: 960, y: 540 });
  // top-left of the picture
  assert.deepEqual(boxToVideo(0, 90.3125, 390, 400, 1920, 1080), { x: 0, y: 0 });
  // the black bars are outside
  assert.equal(boxToVideo(100, 50, 390, 400, 1920, 1080), null);
  assert.equal(boxToVideo(100, 390, 390, 400, 1920, 1080), null);
});

test("pillarbox: a tall box around a narrow video", () => {
  // 800x600 video in a 1000x600 box: bars of 100 on each side
  assert.deepEqual(boxToVideo(100, 0, 1000, 600, 800, 600), { x: 0, y: 0 });
  assert.deepEqual(boxToVideo(899.9, 599.9, 1000, 600, 800, 600), { x: 799, y: 599 });
  assert.equal(boxToVideo(50, 300, 1000, 600, 800, 600), null);
});

test("zoom and pan map back through the transform", () => {
  const view = { scale: 2, tx: -195, ty: -200 }; // zoomed 2x on the centre
  // the box centre still shows the screen centre
  assert.deepEqual(boxToVideo(195, 200, 390, 400, 1920, 1080, view), { x: 960, y: 540 });
  // the box's left edge now shows a quarter of the width
  assert.deepEqual(boxToVideo(0, 200, 390, 400, 1920, 1080, view), { x: 480, y: 540 });
});

test("zoomAt keeps the pinch centre fixed and clamps to 1..5", () => {
  const v = zoomAt(IDENTITY_VIEW, 2, 195, 200, 390, 400);
  assert.deepEqual(v, { scale: 2, tx: -195, ty: -200 });
  assert.equal(zoomAt(v, 100, 0, 0, 390, 400).scale, 5);
  assert.deepEqual(zoomAt(v, 0.01, 10, 10, 390, 400), { scale: 1, tx: 0, ty: 0 });
});

test("panning never shows past the picture's edges", () => {
  const v = { scale: 2, tx: -195, ty: -200 };
  assert.deepEqual(panBy(v, 1000, 1000, 390, 400), { scale: 2, tx: 0, ty: 0 });
  assert.deepEqual(panBy(v, -1000, -1000, 390, 400), { scale: 2, tx: -390, ty: -400 });
  assert.deepEqual(clampView({ scale: 1, tx: 50, ty: -50 }, 390, 400), { scale: 1, tx: 0, ty: 0 });
});

test("clamped mapping pins drags to the picture", () => {
  assert.deepEqual(boxToVideoClamped(-50, -50, 390, 400, 1920, 1080), { x: 0, y: 0 });
  assert.deepEqual(boxToVideoClamped(500, 500, 390, 400, 1920, 1080), { x: 1919, y: 1079 });
  assert.equal(boxToVideoClamped(1, 1, 390, 400, 0, 0), null);
});
