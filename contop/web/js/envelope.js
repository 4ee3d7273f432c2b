// Envelopes {type, id, payload} going out, and the validation of what comes in (malformed → ignored).

export function uuid() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function envelope(type, payload = {}, id = uuid()) {
  return { type, id, payload };
}

/**
 * Messages the phone sends on the fast (unordered, lossy) channel: pointer moves only, each one superseded by the
 * next. A press and its release go on the reliable channel: a release lost or overtaken on the fast one would
 * leave the desk's button held down, turning every later move into a drag. Both carry their own position.
 */
export function isFastAction(type, payload) {
  return type === "manual_control" && payload?.action === "mouse_move";
}

/** The most the desktop takes in one message (the max-message-size it announces): 256 KiB of UTF-8. */
export const MAX_MESSAGE_BYTES = 262144;

/**
 * Why `text` cannot go in one data-channel message of at most `limit` bytes (UTF-8), as a sentence for the user,
 * or null when it can. The browser would throw on send; the user must be told, and keep the text.
 */
export function tooLargeToSend(text, limit = MAX_MESSAGE_BYTES) {
  // Each UTF-16 unit is at most 3 bytes of UTF-8: short texts are settled without encoding them.
  if (text.length * 3 <= limit) return null;
  const bytes = new TextEncoder().encode(text).length;
  if (bytes <= limit) return null;
  const kb = (n) => `${Math.ceil(n / 1024)} KB`;
  return `This is too long to send (${kb(bytes)}): the desktop takes at most ${kb(limit)} at a time. Shorten it, or send it in parts.`;
}

const S = "string";
const N = "number";
const B = "boolean";
// Required payload fields per server message type; optional fields are checked by the reducer as it reads them.
const SCHEMA = {
  agent_progress: { step: N },
  agent_result: { answer: S },
  agent_confirmation_request: { tool: S },
  state_update: {},
  agent_status: { status_type: S },
  away_mode_status: { away_mode: B },
  tool_result: { tool: S, status: S },
  device_control_result: { action: S, status: S },
  security_alert: { reason: S },
  agent_thinking: { text: S },
  agent_text: { text: S },
  keepalive: {},
  error: { code: S, message: S },
};

export const SERVER_TYPES = Object.freeze(Object.keys(SCHEMA));

/** Parse one data-channel message: {ok:true, msg} or {ok:false, reason}. */
export function parseServerMessage(raw) {
  let data = raw;
  if (typeof raw === "string") {
    try {
      data = JSON.parse(raw);
    } catch {
      return { ok: false, reason: "not JSON" };
    }
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) return { ok: false, reason: "not an object" };
  const { type, id, payload } = data;
  if (typeof type !== "string" || !type) return { ok: false, reason: "no type" };
  if (typeof id !== "string" || !id) return { ok: false, reason: "no id" };
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return { ok: false, reason: "no payload object" };
  const schema = SCHEMA[type];
  if (!schema) return { ok: false, reason: `unknown type ${type}` };
  for (const [key, kind] of Object.entries(schema)) {
    if (typeof payload[key] !== kind) return { ok: false, reason: `${type}.${key} is not a ${kind}` };
  }
  return { ok: true, msg: { type, id, payload } };
}
