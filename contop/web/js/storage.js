// What the phone remembers between visits: paired desktops (keyed by DTLS fingerprint), its device id and name,
// layout preferences. Every function takes a Storage-like object so it runs the same under node's tests.

import { uuid } from "./envelope.js";
import { normalizeFingerprint } from "./fingerprint.js";

const PAIRINGS = "contop.pairings.v1";
const CURRENT = "contop.current.v1";
const DEVICE_ID = "contop.device_id";
const DEVICE_NAME = "contop.device_name";
const LAYOUT = "contop.layout.v1";

function readJson(storage, key, fallback) {
  try {
    const raw = storage.getItem(key);
    return raw === null || raw === undefined ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function writeJson(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false; // quota or private mode: the app keeps working for this visit
  }
}

/** Paired desktops, most recently used first. */
export function loadPairings(storage) {
  const map = readJson(storage, PAIRINGS, {});
  if (!map || typeof map !== "object") return [];
  return Object.values(map)
    .filter((p) => p && typeof p.d === "string" && typeof p.t === "string")
    .sort((a, b) => (b.lastUsed || 0) - (a.lastUsed || 0));
}

export function savePairing(storage, payload, now = Date.now()) {
  const map = readJson(storage, PAIRINGS, {}) || {};
  const key = normalizeFingerprint(payload.d);
  const previous = map[key] || {};
  map[key] = { ...previous, ...payload, pairedAt: now, lastUsed: now, name: previous.name || payload.h };
  delete map[key].refused; // a code scanned again is worth a try (see setCodeRefused)
  writeJson(storage, PAIRINGS, map);
  writeJson(storage, CURRENT, key);
  return map[key];
}

/**
 * The stored pairing that a code from a link would replace: the same desktop, paired with another code. Null when
 * the code replaces nothing (a new desktop, or the code this phone already has). A link may be an old one (revoked
 * or expired) while the stored code still works, so the app stores such a code only once it has connected.
 */
export function pairingReplacedBy(storage, payload) {
  const map = readJson(storage, PAIRINGS, {}) || {};
  const stored = map[normalizeFingerprint(payload.d)];
  return stored && typeof stored.t === "string" && stored.t !== payload.t ? stored : null;
}

/**
 * Mark the stored code of `payload`'s desktop as refused by the desktop (revoked, expired, or claimed by another
 * device), or clear the mark once it connects. Only the code itself is marked: an old link refused while this phone
 * holds another code for that desktop changes nothing. The updated pairing, or null when nothing changed.
 */
export function setCodeRefused(storage, payload, refused) {
  const map = readJson(storage, PAIRINGS, {}) || {};
  const key = normalizeFingerprint(payload.d);
  const stored = map[key];
  if (!stored || stored.t !== payload.t || !!stored.refused === refused) return null;
  if (refused) stored.refused = true;
  else delete stored.refused;
  writeJson(storage, PAIRINGS, map);
  return stored;
}

export function touchPairing(storage, fingerprint, now = Date.now()) {
  const map = readJson(storage, PAIRINGS, {}) || {};
  const key = normalizeFingerprint(fingerprint);
  if (!map[key]) return null;
  map[key].lastUsed = now;
  writeJson(storage, PAIRINGS, map);
  writeJson(storage, CURRENT, key);
  return map[key];
}

export function forgetPairing(storage, fingerprint) {
  const map = readJson(storage, PAIRINGS, {}) || {};
  const key = normalizeFingerprint(fingerprint);
  delete map[key];
  writeJson(storage, PAIRINGS, map);
  if (readJson(storage, CURRENT, null) === key) storage.removeItem(CURRENT);
}

/** The desktop the phone used last, if it is still remembered. */
export function currentPairing(storage) {
  const key = readJson(storage, CURRENT, null);
  if (!key) return null;
  return loadPairings(storage).find((p) => normalizeFingerprint(p.d) === key) || null;
}

/**
 * A random id generated once per phone (per browser profile) and kept. `uuid` works on a page served over
 * plain http from a LAN address too, where the browser leaves out `crypto.randomUUID` (not a secure context).
 */
export function deviceId(storage, random = uuid) {
  let id = storage.getItem(DEVICE_ID);
  if (!id) {
    id = `phone-${random()}`;
    storage.setItem(DEVICE_ID, id);
  }
  return id;
}

export function deviceName(storage, userAgent) {
  return storage.getItem(DEVICE_NAME) || deviceNameFromUA(userAgent);
}

export function setDeviceName(storage, name) {
  const clean = String(name || "").trim().slice(0, 64);
  if (clean) storage.setItem(DEVICE_NAME, clean);
  else storage.removeItem(DEVICE_NAME);
  return clean;
}

/** "iPhone · Safari", "Pixel 7 · Chrome", … from a user-agent string. */
export function deviceNameFromUA(ua = "") {
  let model = "Phone";
  if (/iPhone/.test(ua)) model = "iPhone";
  else if (/iPad/.test(ua)) model = "iPad";
  else if (/Android/.test(ua)) {
    const m = /Android [\d.]+; (?:[a-z]{2}[-_][a-z]{2}; )?([^;)]+?)(?: Build[^;)]*)?[;)]/i.exec(ua);
    model = m && m[1].trim() && m[1].trim() !== "K" ? m[1].trim() : "Android phone";
  } else if (/Macintosh/.test(ua)) model = "Mac";
  else if (/Windows/.test(ua)) model = "Windows PC";
  else if (/Linux/.test(ua)) model = "Linux";
  let browser = "";
  if (/EdgA?\//.test(ua)) browser = "Edge";
  else if (/SamsungBrowser\//.test(ua)) browser = "Samsung Internet";
  else if (/Firefox\/|FxiOS\//.test(ua)) browser = "Firefox";
  else if (/Chrome\/|CriOS\//.test(ua)) browser = "Chrome";
  else if (/Safari\//.test(ua)) browser = "Safari";
  return browser ? `${model} · ${browser}` : model;
}

export function loadLayoutPrefs(storage) {
  return readJson(storage, LAYOUT, {}) || {};
}

export function saveLayoutPrefs(storage, prefs) {
  writeJson(storage, LAYOUT, prefs);
}

/** A Storage stand-in backed by a Map (tests, or when localStorage is unavailable). */
export function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
    clear: () => m.clear(),
    get length() {
      return m.size;
    },
  };
}
