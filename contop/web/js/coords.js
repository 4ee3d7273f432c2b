// Mapping a touch on the video element to the desktop's pixel space, through zoom/pan and letterboxing.
// The view is {scale, tx, ty}: CSS transform translate(tx, ty) scale(scale) with origin at the top-left corner.

export const IDENTITY_VIEW = Object.freeze({ scale: 1, tx: 0, ty: 0 });
export const MAX_ZOOM = 5;

/** Where the video picture sits inside a box of boxW×boxH with object-fit: contain. */
export function contentRect(boxW, boxH, videoW, videoH) {
  if (!(boxW > 0 && boxH > 0 && videoW > 0 && videoH > 0)) return null;
  const k = Math.min(boxW / videoW, boxH / videoH);
  const width = videoW * k;
  const height = videoH * k;
  return { x: (boxW - width) / 2, y: (boxH - height) / 2, width, height, k };
}

/** A point in the box (unzoomed layout coordinates) to desktop pixels; null outside the picture. */
export function boxToVideo(px, py, boxW, boxH, videoW, videoH, view = IDENTITY_VIEW) {
  const rect = contentRect(boxW, boxH, videoW, videoH);
  if (!rect) return null;
  const ux = (px - view.tx) / view.scale;
  const uy = (py - view.ty) / view.scale;
  const x = (ux - rect.x) / rect.k;
  const y = (uy - rect.y) / rect.k;
  if (x < 0 || y < 0 || x >= videoW || y >= videoH) return null;
  return { x: Math.min(videoW - 1, Math.round(x)), y: Math.min(videoH - 1, Math.round(y)) };
}

/** Same as boxToVideo but clamps to the picture's edges instead of returning null (for drags). */
export function boxToVideoClamped(px, py, boxW, boxH, videoW, videoH, view = IDENTITY_VIEW) {
  const rect = contentRect(boxW, boxH, videoW, videoH);
  if (!rect) return null;
  const x = ((px - view.tx) / view.scale - rect.x) / rect.k;
  const y = ((py - view.ty) / view.scale - rect.y) / rect.k;
  return {
    x: Math.max(0, Math.min(videoW - 1, Math.round(x))),
    y: Math.max(0, Math.min(videoH - 1, Math.round(y))),
  };
}

/** Keep the zoomed picture covering the box: no blank margins appear when panning. */
export function clampView(view, boxW, boxH) {
  const scale = Math.max(1, Math.min(MAX_ZOOM, view.scale));
  const minTx = boxW - boxW * scale;
  const minTy = boxH - boxH * scale;
  return {
    scale,
    tx: Math.min(0, Math.max(minTx, view.tx)),
    ty: Math.min(0, Math.max(minTy, view.ty)),
  };
}

/** Zoom by `factor` keeping the box point (cx, cy) fixed under the finger. */
export function zoomAt(view, factor, cx, cy, boxW, boxH) {
  const scale = Math.max(1, Math.min(MAX_ZOOM, view.scale * factor));
  const f = scale / view.scale;
  return clampView({ scale, tx: cx - (cx - view.tx) * f, ty: cy - (cy - view.ty) * f }, boxW, boxH);
}

export function panBy(view, dx, dy, boxW, boxH) {
  return clampView({ scale: view.scale, tx: view.tx + dx, ty: view.ty + dy }, boxW, boxH);
}
