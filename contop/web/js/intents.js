// Outgoing message payloads, built in one place so the wire format is easy to audit.

export const KEY_ACTION = "key";
export const SCROLL_CLICKS = 5;

export function userIntentPayload(text, { model = null, thinking = false } = {}) {
  const payload = { text: String(text).trim() };
  if (model) payload.model = model;
  if (thinking) payload.thinking = true;
  return payload;
}

/** A click at a desktop point; without a point the desktop clicks where its pointer already is. */
export function clickPayload(point, button = "left") {
  const p = { action: button === "right" ? "right_click" : "click" };
  if (point && Number.isFinite(point.x) && Number.isFinite(point.y)) {
    p.x = point.x;
    p.y = point.y;
  }
  return p;
}

export function pointerPayload(action, point) {
  const p = { action };
  if (point) {
    p.x = point.x;
    p.y = point.y;
  }
  return p;
}

/** dy < 0 scrolls up, dy > 0 down; `direction` and `clicks` are included for handlers that expect them. */
export function scrollPayload(dy, point) {
  const p = { action: "scroll", dy, direction: dy < 0 ? "up" : "down", clicks: Math.abs(dy) };
  if (point) {
    p.x = point.x;
    p.y = point.y;
  }
  return p;
}

export function keyPayload(keys) {
  return { action: KEY_ACTION, keys };
}

export function typePayload(text) {
  return { action: "type", text };
}

/**
 * Keys and text, which the desktop refuses on their own (Away Mode's lock holds its keyboard while taps still
 * work): each refusal of one is told, where pointer traffic's is told once.
 */
export function isKeyboardAction(payload) {
  return payload?.action === KEY_ACTION || payload?.action === "type";
}

export const KEY_GRID = Object.freeze([
  { label: "Esc", keys: "escape" },
  { label: "Tab", keys: "tab" },
  { label: "Enter", keys: "enter" },
  { label: "⌫", keys: "backspace", title: "Backspace" },
  { label: "Del", keys: "delete", title: "Delete" },
  { label: "←", keys: "left", title: "Left" },
  { label: "↑", keys: "up", title: "Up" },
  { label: "↓", keys: "down", title: "Down" },
  { label: "→", keys: "right", title: "Right" },
  { label: "Ctrl C", keys: "ctrl+c", title: "Copy" },
  { label: "Ctrl V", keys: "ctrl+v", title: "Paste" },
  { label: "Ctrl Z", keys: "ctrl+z", title: "Undo" },
  { label: "Ctrl S", keys: "ctrl+s", title: "Save" },
]);

export const KEEP_AWAKE = Object.freeze({ on: "keep_awake_on", off: "keep_awake_off" });
