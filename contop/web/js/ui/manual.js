// Touch on the live video (tap = click, drag = move the pointer, pinch = zoom) and the manual-control panel.

import { $, h, vibrate } from "./dom.js";
import { IDENTITY_VIEW, boxToVideo, boxToVideoClamped, zoomAt, panBy, clampView } from "../coords.js";
import { clickPayload, pointerPayload, scrollPayload, keyPayload, typePayload, KEY_GRID, SCROLL_CLICKS } from "../intents.js";

const TAP_SLOP = 10;
const TAP_MS = 350;
const LONG_PRESS_MS = 450;
const REPEAT_DELAY_MS = 250;
const REPEAT_MS = 80;

/**
 * send(type, payload) → id|null; isManual() → bool. Returns {reset(), cursor, refused(id), leave()}.
 */
export function setupManualControl({ send, isManual, onZoom }) {
  const pane = $("video-pane");
  const wrap = $("video-wrap");
  const video = $("video");
  let view = { ...IDENTITY_VIEW };
  let cursor = null; // last desktop point we moved or clicked at
  const pointers = new Map();
  let gesture = null; // {kind: "tap"|"move"|"pan"|"pinch", ...}
  let pendingMove = null;
  let rafId = 0;

  // The untransformed box of the video wrapper (layouts may inset it inside the pane).
  function box() {
    const r = pane.getBoundingClientRect();
    return { left: r.left + wrap.offsetLeft, top: r.top + wrap.offsetTop, w: wrap.offsetWidth, h: wrap.offsetHeight };
  }

  function applyView() {
    wrap.style.transform = `translate(${view.tx}px, ${view.ty}px) scale(${view.scale})`;
    onZoom?.(view.scale);
  }

  function toDesktop(clientX, clientY, clamp = false) {
    const b = box();
    const fn = clamp ? boxToVideoClamped : boxToVideo;
    return fn(clientX - b.left, clientY - b.top, b.w, b.h, video.videoWidth, video.videoHeight, view);
  }

  function ripple(clientX, clientY) {
    const r = pane.getBoundingClientRect();
    const ring = h("span", { class: "tap-ring", style: `left:${clientX - r.left}px;top:${clientY - r.top}px` });
    pane.append(ring);
    setTimeout(() => ring.remove(), 500);
  }

  function queueMove(point) {
    pendingMove = point;
    if (rafId) return;
    rafId = requestAnimationFrame(() => {
      rafId = 0;
      if (pendingMove) {
        send("manual_control", pointerPayload("mouse_move", pendingMove));
        cursor = pendingMove;
        pendingMove = null;
      }
    });
  }

  function pinchState() {
    const [a, b] = [...pointers.values()];
    return { dist: Math.hypot(a.x - b.x, a.y - b.y), cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2 };
  }

  pane.addEventListener("pointerdown", (ev) => {
    if (ev.target.closest("button")) return;
    pane.setPointerCapture?.(ev.pointerId);
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pointers.size === 1) {
      gesture = { kind: "tap", x0: ev.clientX, y0: ev.clientY, t0: performance.now(), lastX: ev.clientX, lastY: ev.clientY };
    } else if (pointers.size === 2) {
      const p = pinchState();
      gesture = { kind: "pinch", ...p };
    }
  });

  pane.addEventListener("pointermove", (ev) => {
    if (!pointers.has(ev.pointerId)) return;
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (!gesture) return;
    const b = box();
    if (gesture.kind === "pinch" && pointers.size >= 2) {
      const p = pinchState();
      if (gesture.dist > 0) view = zoomAt(view, p.dist / gesture.dist, p.cx - b.left, p.cy - b.top, b.w, b.h);
      view = panBy(view, p.cx - gesture.cx, p.cy - gesture.cy, b.w, b.h);
      gesture = { kind: "pinch", ...p };
      applyView();
      return;
    }
    if (gesture.kind === "tap") {
      if (Math.hypot(ev.clientX - gesture.x0, ev.clientY - gesture.y0) < TAP_SLOP) return;
      gesture.kind = isManual() ? "move" : view.scale > 1 ? "pan" : "none";
    }
    if (gesture.kind === "move") {
      const pt = toDesktop(ev.clientX, ev.clientY, true);
      if (pt) queueMove(pt);
    } else if (gesture.kind === "pan") {
      view = panBy(view, ev.clientX - gesture.lastX, ev.clientY - gesture.lastY, b.w, b.h);
      applyView();
    }
    gesture.lastX = ev.clientX;
    gesture.lastY = ev.clientY;
  });

  function end(ev) {
    if (!pointers.has(ev.pointerId)) return;
    pointers.delete(ev.pointerId);
    if (gesture?.kind === "tap" && ev.type === "pointerup" && performance.now() - gesture.t0 < TAP_MS) {
      if (isManual()) {
        const pt = toDesktop(ev.clientX, ev.clientY);
        if (pt) {
          send("manual_control", clickPayload(pt));
          cursor = pt;
          ripple(ev.clientX, ev.clientY);
          vibrate(8);
        }
      }
    }
    if (pointers.size === 0) gesture = null;
    else if (pointers.size === 1) {
      const [p] = [...pointers.values()];
      gesture = { kind: isManual() ? "none" : "pan", lastX: p.x, lastY: p.y };
    }
  }
  pane.addEventListener("pointerup", end);
  pane.addEventListener("pointercancel", end);

  pane.addEventListener("dblclick", () => {
    if (isManual()) return;
    view = { ...IDENTITY_VIEW };
    applyView();
  });

  // Desktop browsers: ctrl+wheel / trackpad pinch zooms the video too.
  pane.addEventListener(
    "wheel",
    (ev) => {
      if (!ev.ctrlKey) return;
      ev.preventDefault();
      const b = box();
      view = zoomAt(view, Math.exp(-ev.deltaY / 200), ev.clientX - b.left, ev.clientY - b.top, b.w, b.h);
      applyView();
    },
    { passive: false },
  );

  new ResizeObserver(() => {
    const b = box();
    view = clampView(view, b.w, b.h);
    applyView();
  }).observe(wrap);

  // ---- the panel ----
  const panel = $("manual-panel");
  // Manual mode can end while a finger is still down on the panel or the picture (a task started, from another
  // phone too; the link was lost). The panel is gone by then, and the browser would give the lift's click to what
  // took its place: the composer's chips (Settings, Extended thinking, New conversation), the thread, the round
  // button. Such a gesture ends with nothing: cancelling its touchend cancels the click and the mouse events (and
  // the focus) that a tap brings.
  const panelGone = () => !isManual() || panel.hidden || panel.getClientRects().length === 0;
  const manualTouches = new Set(); // touches that began on the panel or the picture while manual mode was on
  window.addEventListener(
    "touchstart",
    (ev) => {
      for (const t of ev.changedTouches) {
        manualTouches.delete(t.identifier); // browsers reuse the numbers of lifted touches
        if (isManual() && (panel.contains(t.target) || pane.contains(t.target))) manualTouches.add(t.identifier);
      }
    },
    { capture: true, passive: true },
  );
  const touchEnd = (ev) => {
    let outlived = false;
    for (const t of ev.changedTouches) if (manualTouches.delete(t.identifier) && panelGone()) outlived = true;
    if (outlived && ev.cancelable) ev.preventDefault();
  };
  window.addEventListener("touchend", touchEnd, { capture: true, passive: false });
  window.addEventListener("touchcancel", touchEnd, { capture: true, passive: false });

  function centre() {
    return video.videoWidth ? { x: Math.round(video.videoWidth / 2), y: Math.round(video.videoHeight / 2) } : null;
  }

  const left = $("btn-left");
  let longTimer = 0;
  let dragging = false;
  left.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    left.setPointerCapture?.(ev.pointerId);
    left.classList.add("pressed");
    dragging = false;
    longTimer = setTimeout(() => {
      if (panelGone()) return; // manual mode ended while L was held: no drag starts on the desktop
      dragging = true;
      left.classList.add("held");
      send("manual_control", pointerPayload("mouse_down", cursor));
      vibrate(25);
    }, LONG_PRESS_MS);
  });
  // Letting go of a held button is always sent (leave() has done it when manual mode was switched off); a click is
  // sent only while the panel is there to be tapped.
  const leftUp = (ev) => {
    clearTimeout(longTimer);
    left.classList.remove("pressed", "held");
    if (dragging) {
      send("manual_control", pointerPayload("mouse_up", cursor));
      dragging = false;
    } else if (ev.type === "pointerup" && !panelGone()) {
      send("manual_control", clickPayload(cursor || centre()));
      vibrate(8);
    }
  };
  left.addEventListener("pointerup", leftUp);
  left.addEventListener("pointercancel", leftUp);

  $("btn-right").addEventListener("click", () => {
    send("manual_control", clickPayload(cursor || centre(), "right"));
    vibrate(8);
  });

  const stops = []; // each repeating button's stop(), for leave()
  function holdRepeat(button, fire) {
    let delay = 0;
    let interval = 0;
    const stop = () => {
      clearTimeout(delay);
      clearInterval(interval);
      button.classList.remove("pressed");
    };
    stops.push(stop);
    button.addEventListener("pointerdown", (ev) => {
      ev.preventDefault();
      button.setPointerCapture?.(ev.pointerId);
      button.classList.add("pressed");
      fire();
      delay = setTimeout(() => {
        interval = setInterval(() => {
          if (panelGone()) return stop(); // manual mode ended under the finger: the scrolling stops with it
          fire();
          vibrate(4);
        }, REPEAT_MS);
      }, REPEAT_DELAY_MS);
    });
    button.addEventListener("pointerup", stop);
    button.addEventListener("pointercancel", stop);
    button.addEventListener("lostpointercapture", stop);
  }
  holdRepeat($("btn-scroll-up"), () => send("manual_control", scrollPayload(-SCROLL_CLICKS, cursor)));
  holdRepeat($("btn-scroll-down"), () => send("manual_control", scrollPayload(SCROLL_CLICKS, cursor)));

  const grid = $("key-grid");
  for (const k of KEY_GRID) {
    grid.append(
      h("button", { class: "key", type: "button", title: k.title || k.label, "aria-label": k.title || k.label, "data-keys": k.keys, onclick: () => {
        send("manual_control", keyPayload(k.keys));
        vibrate(6);
      } }, k.label),
    );
  }
  const keysBtn = $("btn-keys");
  keysBtn.addEventListener("click", () => {
    const show = grid.hidden;
    grid.hidden = !show;
    $("type-form").hidden = !show;
    $("manual-hint").hidden = show;
    keysBtn.setAttribute("aria-pressed", String(show));
  });
  // The text last sent to be typed, until the desktop has had its say: a refusal gives it back to the box.
  let typed = null; // {id, text}
  $("type-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("type-input");
    if (!input.value) return;
    const id = send("manual_control", typePayload(input.value));
    if (!id) return; // not sent (no connection): the text stays in the box
    typed = { id, text: input.value };
    input.value = "";
  });

  return {
    reset() {
      view = { ...IDENTITY_VIEW };
      applyView();
    },
    get cursor() {
      return cursor;
    },
    /** Manual mode is being switched off: a button held down on the desktop by a long press of L is let go
     * first (the desktop would keep it down), and a held scroll button stops repeating. */
    leave() {
      clearTimeout(longTimer);
      left.classList.remove("pressed", "held");
      if (dragging) send("manual_control", pointerPayload("mouse_up", cursor));
      dragging = false;
      for (const stop of stops) stop();
    },
    /** The desktop refused request `id`: if it was text to type, the text goes back into the box, if still empty. */
    refused(id) {
      if (!typed || typed.id !== id) return;
      const input = $("type-input");
      if (!input.value) input.value = typed.text;
      typed = null;
    },
  };
}
