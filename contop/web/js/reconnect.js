// When to reconnect after a drop: back off 1, 2, 3, 5, 8 s. Every attempt is a full reconnect (a new signaling
// socket and a new peer connection): the desktop closes its side of a lost link and does not do ICE restarts.

export const BACKOFF_MS = Object.freeze([1000, 2000, 3000, 5000, 8000]);
export const SILENT_WINDOW_MS = 2000;
// After giving up, the phone still tries once every 30 s while the app is in front (a rebooted desktop is picked
// up without a tap), and at once when the user comes back to the app or the network returns.
export const AUTO_RETRY_MS = 30000;

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

/**
 * Whether the phone keeps trying by itself after a failure described by `info`: not when the desktop refused this
 * phone for good (revoked or claimed code, a forged desktop: "rescan") or handed its connection to another tab
 * (4002); those wait for the user.
 */
export function retriesByItself(info) {
  return !!info && info.action === "retry" && !isFatalClose(info.code);
}

/**
 * What the user reads after the last attempt failed: the last failure itself when the desktop said why (too many
 * attempts, not available, refused), otherwise that it stopped answering.
 */
export function giveUpInfo(last) {
  const tail = `Gave up after ${BACKOFF_MS.length} attempts; trying again every ${AUTO_RETRY_MS / 1000} s.`;
  if (last && last.kind && last.kind !== "unreachable" && last.title) {
    return { ...last, message: `${last.message} ${tail}`.trim(), action: last.action || "retry" };
  }
  return {
    kind: "lost",
    title: "Lost the connection",
    message: `The desktop stopped answering after ${BACKOFF_MS.length} attempts. Check that it is awake and on the same network. The phone tries again every ${AUTO_RETRY_MS / 1000} s and when you come back to the app.`,
    action: "retry",
  };
}

/**
 * What the phone sends on every (re)connect, in order: {type, payload, quiet?} (quiet: the feature whose error
 * reply stays out of the thread). A "new session" tapped while offline goes first, so a conversation resumed
 * afterwards (reopened from history) is not wiped by it; the reset session itself has no id to resume.
 */
export function connectMessages({ resetPending = false, serverSessionId = null, manual = false, stopping = false } = {}) {
  const out = [{ type: "away_mode_status", payload: {}, quiet: "away" }];
  // A Stop tapped just before the drop may never have arrived; the desktop answers one with nothing running too.
  if (stopping) out.push({ type: "execution_stop", payload: {} });
  if (resetPending) out.push({ type: "new_session", payload: {} });
  if (serverSessionId) out.push({ type: "session_context", payload: { session_id: serverSessionId }, quiet: "resume" });
  if (manual) out.push({ type: "set_manual_mode", payload: { enabled: true } });
  return out;
}

/**
 * A filter letting each server message through once. After a lost link the desktop sends again what this
 * phone's link had not acknowledged, and some of it may have arrived after all. A confirmation request is
 * always let through: the desktop asks again on purpose after a reconnect (the store updates its entry).
 */
export function onceById(limit = 2000) {
  const seen = new Set();
  return (msg) => {
    if (msg.type === "agent_confirmation_request") return true;
    if (seen.has(msg.id)) return false;
    seen.add(msg.id);
    if (seen.size > limit) seen.delete(seen.values().next().value);
    return true;
  };
}
