// What the user reads when signaling closes or the server reports an error: a title, an explanation, an action.

/** action: "rescan" (the code is no good any more), "retry" (try again later/now), or null. */
export function describeClose(code, reason = "") {
  switch (code) {
    case 4001:
      return {
        kind: "invalid_token",
        title: "This pairing code no longer works",
        message: "It has expired or was revoked on the desktop. Open Contop on the desktop and scan a new code.",
        action: "rescan",
      };
    case 4002:
      return {
        kind: "replaced",
        title: "Connected somewhere else",
        message: "This phone opened a newer connection to the desktop (another tab or window). This one was closed.",
        action: "retry",
      };
    case 4003:
      return {
        kind: "claimed",
        title: "Code already used by another device",
        message: "Each code pairs one device. Ask the desktop for a new code and scan it with this phone.",
        action: "rescan",
      };
    case 4029:
      return {
        kind: "rate_limited",
        title: "Too many attempts",
        message: "The desktop is refusing connections from this address for a while. Wait a minute, then try again.",
        action: "retry",
      };
    case 1008:
      // The desktop also closes with 1008 when the link never came up in time: that one is a network problem.
      if (/not established/i.test(reason)) break;
      return {
        kind: "refused",
        title: "The desktop refused this connection",
        message:
          "The desktop refused this phone's connection offer. Update the app (reload this page) or use an up-to-date browser, then try again.",
        action: "retry",
      };
    case 1013:
      return {
        kind: "not_available",
        title: "Remote control isn't available yet",
        message:
          "The desktop is reachable and accepted the code, but its live connection (WebRTC) is not available in this build. Update Contop on the desktop, then retry.",
        action: "retry",
      };
  }
  return {
    kind: "unreachable",
    title: "Can't reach the desktop",
    message:
      (reason ? `${reason}. ` : "") + "Check that the phone and the desktop are on the same network and that Contop is running.",
    action: "retry",
  };
}

export function describeFingerprintMismatch() {
  return {
    kind: "fingerprint",
    title: "Connection refused for your safety",
    message:
      "The desktop that answered is not the one in the code you scanned (its security fingerprint differs). Someone may be intercepting the connection. Scan a fresh code on your desktop.",
    action: "rescan",
  };
}

const SERVER_ERRORS = {
  busy: "A task is already running. Wait for it to finish or stop it first.",
  not_available: "The desktop can't do that right now.", // not in this build, or not while Away Mode is on: its message says
  invalid_message: "The desktop couldn't read a message from this phone.",
  unknown_type: "The desktop doesn't know that request. It may run an older Contop.",
  invalid_payload: "The desktop rejected a request as malformed.",
  internal: "Something went wrong on the desktop.",
};

/** A sentence for a data-channel `error` payload; the server's own message is added when it says more. */
export function describeServerError(payload) {
  const base = SERVER_ERRORS[payload?.code] || "The desktop reported an error.";
  const detail = typeof payload?.message === "string" ? payload.message.trim() : "";
  if (!detail || payload?.code === "busy") return base;
  return `${base} (${detail})`;
}

/** Why the desktop refused something the user asked for (a toast): its own reason when it gave one. */
export function describeRefusal(payload) {
  const detail = typeof payload?.message === "string" ? payload.message.trim() : "";
  if (!detail || payload?.code === "unknown_type") return describeServerError({ code: payload?.code });
  const sentence = detail[0].toUpperCase() + detail.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

const STATUS_TITLES = {
  vision_fallback: "Vision fallback",
  sandbox_fallback: "Running in the sandbox",
  model_error: "Model problem",
  connection_warning: "Connection",
  confirmation_expired: "Approval expired",
  video_unavailable: "Live screen stopped",
  video_resumed: "Live screen back",
};

export function statusTitle(statusType) {
  return STATUS_TITLES[statusType] || "Notice";
}
