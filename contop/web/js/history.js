// Past sessions kept on the phone: binary data stripped, at most 20, searchable by text and date.

export const MAX_SESSIONS = 20;
const KEY = "contop.history.v1";
const ACTIVE = "contop.history.active.v1"; // the id of the session the thread shows, reopened by a reload
const BINARY_KEYS = new Set(["frame_b64", "image_b64", "screenshot", "screenshot_b64", "image", "thumbnail"]);
const LONG_BASE64 = /^(?:data:[^,]*;base64,)?[A-Za-z0-9+/=\r\n]{2000,}$/;

/** A deep copy of a value without screenshots or other base64 blobs. */
export function stripBinary(value) {
  if (Array.isArray(value)) return value.map(stripBinary);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (BINARY_KEYS.has(k)) continue;
      if (typeof v === "string" && LONG_BASE64.test(v)) continue;
      out[k] = stripBinary(v);
    }
    return out;
  }
  return value;
}

/** The entries worth keeping in a stored thread (transient indicators dropped). */
export function entriesForStorage(entries) {
  return stripBinary(entries.filter((e) => e.kind !== "thinking" || e.text)).map((e) => {
    const copy = { ...e };
    delete copy.streaming;
    return copy;
  });
}

/** What a reopened session shows: the conversation, not the ephemeral tool state. */
export function entriesForRestore(entries) {
  return entries
    .filter((e) => e.kind === "user" || e.kind === "text" || e.kind === "result")
    .map((e) => ({ ...e, restored: true }));
}

/**
 * What a reload shows of the session it reopens: the whole thread as it was, steps included (the desktop's next
 * messages continue it). Only a thinking indicator left open is closed: nothing streams into it after a reload.
 */
export function entriesForReload(entries) {
  return entries.map((e) => (e.kind === "thinking" && !e.done ? { ...e, done: true } : e));
}

export function loadActiveId(storage) {
  try {
    return storage.getItem(ACTIVE) || null;
  } catch {
    return null;
  }
}

export function saveActiveId(storage, id) {
  try {
    storage.setItem(ACTIVE, id);
  } catch {
    /* private mode: a reload starts a new session, as before */
  }
}

export function titleOf(entries) {
  const first = entries.find((e) => e.kind === "user" && e.text);
  if (!first) return "New session";
  const t = first.text.replace(/\s+/g, " ").trim();
  return t.length > 60 ? `${t.slice(0, 57)}…` : t;
}

/** Insert or replace a session record and keep the newest MAX_SESSIONS, newest first. */
export function upsertSession(list, record, now = Date.now()) {
  const entries = entriesForStorage(record.entries || []);
  const next = {
    ...record,
    entries,
    title: titleOf(entries),
    entryCount: entries.length,
    createdAt: record.createdAt || now,
    updatedAt: now,
  };
  const rest = list.filter((s) => s.id !== record.id);
  return prune([next, ...rest]);
}

export function prune(list, max = MAX_SESSIONS) {
  return [...list].sort((a, b) => (b.updatedAt || 0) - (a.updatedAt || 0)).slice(0, max);
}

export function removeSession(list, id) {
  return list.filter((s) => s.id !== id);
}

function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/**
 * Filter by free text (title, every text in the thread, what each step ran, the model used: the one the phone chose
 * and the ones the desktop says ran) and range "today" | "week" | "all".
 */
export function searchSessions(list, { text = "", range = "all", now = Date.now() } = {}) {
  const needle = text.trim().toLowerCase();
  let since = -Infinity;
  if (range === "today") since = startOfDay(now);
  else if (range === "week") since = startOfDay(now) - 6 * 86400000;
  return list.filter((s) => {
    if ((s.updatedAt || 0) < since) return false;
    if (!needle) return true;
    const has = (v) => typeof v === "string" && v.toLowerCase().includes(needle);
    if (has(s.title) || has(s.model)) return true;
    return (s.entries || []).some((e) => [e.text, e.answer, e.detail, e.action, e.command, e.model].some(has));
  });
}

export function loadHistory(storage) {
  try {
    const list = JSON.parse(storage.getItem(KEY) || "[]");
    return Array.isArray(list) ? prune(list.filter((s) => s && s.id)) : [];
  } catch {
    return [];
  }
}

/** Save; when storage is full, drop the oldest sessions until it fits (never the newest). */
export function saveHistory(storage, list) {
  let items = prune(list);
  while (items.length) {
    try {
      storage.setItem(KEY, JSON.stringify(items));
      return items;
    } catch {
      items = items.slice(0, -1);
    }
  }
  try {
    storage.removeItem(KEY);
  } catch {
    /* nothing more we can do */
  }
  return items;
}
