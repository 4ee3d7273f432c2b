// When to reconnect after a drop: back off 1, 2, 3, 5, 8 s. Every attempt is a full reconnect (a new signaling
// socket and a new peer connection): the desktop closes its side of a lost link and does not do ICE restarts.

export const BACKOFF_MS = Object.freeze([1000, 2000, 3000, 5000, 8000]);
export const SILENT_WINDOW_MS = 2000;

/** The plan for attempt n (0-based): {delayMs} before a full reconnect, or null when attempts are exhausted. */
export function reconnectPlan(attempt) {
  if (!Number.isInteger(attempt) || attempt < 0 || attempt >= BACKOFF_MS.length) return null;
  return { delayMs: BACKOFF_MS[attempt] };
}

/** A drop shorter than the silent window is not worth a "reconnecting" banner (avoids flicker). */
export function shouldShowReconnecting(droppedAt, now) {
  return now - droppedAt >= SILENT_WINDOW_MS;
}

/** Close codes that end the attempt for good (retrying would not help) vs. ones worth retrying. */
export function isFatalClose(code) {
  return code === 4001 || code === 4002 || code === 4003;
}
