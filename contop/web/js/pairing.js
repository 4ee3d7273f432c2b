// The pairing payload carried in the QR code's URL fragment (#p=<base64url JSON>) and where to signal with it.

const REQUIRED = ["t", "d", "h", "p", "e", "c"];
const KNOWN = ["v", "t", "d", "h", "p", "e", "c", "ts", "s", "i"];

export class PairingError extends Error {}

export function base64UrlDecode(value) {
  const b64 = value.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (value.length % 4)) % 4);
  let binary;
  try {
    binary = atob(b64);
  } catch {
    throw new PairingError("The code is damaged (not base64url).");
  }
  const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

export function base64UrlEncode(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The raw payload value from a location hash ("#p=…"), or null when the hash carries none. */
export function fragmentValue(hash) {
  if (!hash) return null;
  const h = hash.startsWith("#") ? hash.slice(1) : hash;
  for (const part of h.split("&")) {
    if (part.startsWith("p=") && part.length > 2) return part.slice(2);
  }
  return null;
}

/** The desktop refused the code itself (unknown, revoked, expired, or claimed by another device): info from a close. */
export function codeRefused(info) {
  return info?.code === 4001 || info?.code === 4003;
}

/** Decode and validate a payload; unknown keys are dropped, API keys could never ride along. */
export function parsePayload(value) {
  let data;
  try {
    data = JSON.parse(base64UrlDecode(value));
  } catch (err) {
    if (err instanceof PairingError) throw err;
    throw new PairingError("The code is damaged (not JSON).");
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) throw new PairingError("The code is not a pairing code.");
  const missing = REQUIRED.filter((k) => data[k] === undefined || data[k] === null || data[k] === "");
  if (missing.length) throw new PairingError(`The code is incomplete (missing ${missing.join(", ")}).`);
  if (data.v !== undefined && data.v !== 1) throw new PairingError("This code comes from a newer Contop; update the desktop app or this page.");
  if (typeof data.t !== "string" || typeof data.d !== "string" || typeof data.h !== "string") {
    throw new PairingError("The code is not a pairing code.");
  }
  const port = Number(data.p);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new PairingError("The code has an invalid port.");
  const out = {};
  for (const k of KNOWN) if (data[k] !== undefined) out[k] = data[k];
  out.p = port;
  out.v = 1;
  if (out.c !== "temp") out.c = "permanent";
  if (out.i !== undefined && !Array.isArray(out.i)) delete out.i;
  return out;
}

export function isExpired(payload, now = Date.now()) {
  const t = Date.parse(payload.e);
  return Number.isFinite(t) && t <= now;
}

function hostPart(host) {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function toWsUrl(base) {
  let url;
  try {
    url = new URL(base);
  } catch {
    return null;
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return null;
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/ws/signaling";
  url.search = "";
  url.hash = "";
  return url.toString();
}

/**
 * Signaling endpoints in the order of CONTRACTS §4: the origin that served the page, then h, ts and s.
 * Duplicates are dropped; each carries the token as a query parameter.
 */
export function signalingUrls(payload, origin) {
  const bases = [];
  if (origin && /^https?:/.test(origin)) bases.push(toWsUrl(origin));
  bases.push(toWsUrl(`http://${hostPart(payload.h)}:${payload.p}`));
  if (payload.ts) bases.push(toWsUrl(`http://${hostPart(payload.ts)}:${payload.p}`));
  if (payload.s) bases.push(toWsUrl(payload.s));
  const seen = new Set();
  const urls = [];
  for (const b of bases) {
    if (!b || seen.has(b)) continue;
    seen.add(b);
    urls.push(`${b}?token=${encodeURIComponent(payload.t)}`);
  }
  return urls;
}

/**
 * What to tell someone whose connection failed on a page opened by a name the pairing does not carry (a router's
 * DNS name such as desk.lan): the desktop refuses signaling from pages at names it does not know as its own, and a
 * page cannot see that refusal (the browser hides the 403). Empty when the page is at an address or a known host.
 */
export function pageHostHint(payload, pageHost) {
  const host = String(pageHost || "").replace(/^\[|\]$/g, "").toLowerCase();
  if (!host || /^[\d.]+$/.test(host) || host.includes(":") || host === "localhost") return "";
  const known = [payload.h, payload.ts, payload.s ? safeHost(payload.s) : ""].map((h) => String(h || "").toLowerCase());
  if (known.includes(host)) return "";
  return (
    ` This page was opened at ${host}, a name the desktop may not know as its own: open the link from the ` +
    `desktop's QR code instead, or start Contop on the desktop with --advertise-host ${host}.`
  );
}

function safeHost(url) {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

/** A short label for a paired desktop: the LAN host, or the tunnel's host name. */
export function desktopLabel(payload) {
  return payload.name || payload.h || "Desktop";
}

/**
 * What the phone asks before forgetting desktop `p`. Forgetting deletes the phone's code only: the desktop still
 * lists the phone as paired (its token stays valid there) until it is revoked on the desktop, so the question says
 * where. `deviceName`: the name the desktop knows this phone by; `connected`: this phone is connected to `p` now
 * (forgetting disconnects it, and the desktop stops a task the phone's link carried); `running`: a task runs.
 */
export function forgetQuestion(p, { deviceName = "", connected = false, running = false } = {}) {
  const name = deviceName ? `“${deviceName}”` : "this phone";
  const parts = [
    "This removes the pairing from this phone only: its code for this desktop is deleted, and connecting again " +
      "needs a new QR code from the desktop.",
    `The desktop still lists ${name} as paired. To remove it there too, open Contop on the desktop, go to ` +
      `Devices and choose Revoke next to ${name}.`,
  ];
  if (connected) parts.push(running ? "This phone disconnects now, and the task running on the desktop stops." : "This phone disconnects now.");
  return { title: `Forget ${desktopLabel(p)}?`, message: parts.join(" "), confirm: "Forget" };
}
