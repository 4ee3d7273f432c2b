// Past sessions kept on the phone: binary data stripped, at most 20, searchable by text and date.

import { parseMarkdown } from "./markdown.js";

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

/**
 * What a session reopened from History shows: the conversation, not the tool state. Only shown: the record keeps
 * every entry it had (see entriesToStore).
 */
export function entriesForRestore(entries) {
  return entries
    .filter((e) => e.kind === "user" || e.kind === "text" || e.kind === "result")
    .map((e) => ({ ...e, restored: true }));
}

/**
 * What is stored of a session reopened from History: every entry it had (`kept`, as stored: its steps, approvals
 * and outputs too, which the reopened thread does not show), then what the thread on screen (`shown`) added since.
 * The thread's copies of stored entries (marked `restored`) are not stored again: storing the thread as shown
 * would drop, for good, all that it leaves out.
 */
export function entriesToStore(kept, shown) {
  return [...kept, ...shown.filter((e) => !e.restored)];
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

const GRAPHEMES = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

/** The first `n` characters of `text` as the user sees them (an emoji is one), so a cut never splits one. */
function firstChars(text, n) {
  const out = [];
  if (n <= 0) return out;
  for (const c of GRAPHEMES ? GRAPHEMES.segment(text) : text) {
    out.push(GRAPHEMES ? c.segment : c);
    if (out.length === n) break;
  }
  return out;
}

export function titleOf(entries) {
  const first = entries.find((e) => e.kind === "user" && e.text);
  if (!first) return "New session";
  const t = first.text.replace(/\s+/g, " ").trim();
  const chars = firstChars(t, 61);
  return chars.length > 60 ? `${chars.slice(0, 57).join("")}…` : t;
}

const PREVIEW_SOURCE = 1000; // characters of an answer read for its preview (a card shows one line)
const PREVIEW_CHARS = 200;
// ![alt](address): the parser knows no images, and a preview shows their alt text only.
const IMAGE = /!\[([^\]\n]{0,200})\]\([^)\n]{0,1000}\)/g;

function str(v) {
  return typeof v === "string" ? v : "";
}

function inlineText(nodes) {
  return nodes.map((n) => (n.type === "text" || n.type === "code" ? n.text : n.children ? inlineText(n.children) : " ")).join("");
}

function blockText(blocks) {
  return blocks
    .map((b) => {
      if (b.type === "code") return b.text;
      if (b.type === "quote") return blockText(b.children);
      if (b.type === "list") return b.items.map((it) => `${inlineText(it.children)} ${blockText(it.blocks)}`).join(" ");
      if (b.type === "table") return [b.header, ...b.rows].map((row) => row.map(inlineText).join(" ")).join(" ");
      return b.children ? inlineText(b.children) : "";
    })
    .join(" ");
}

/**
 * The last answer of a session as one line of plain text: what the thread shows, without the Markdown syntax
 * (headings, emphasis, code marks, link addresses). Raw HTML stays text, as in the thread: a preview is never markup.
 */
export function previewOf(record) {
  const last = [...(record.entries || [])].reverse().find((e) => e.kind === "result" || e.kind === "text");
  const src = last ? str(last.answer) || str(last.text) : "";
  const plain = blockText(parseMarkdown(firstChars(src, PREVIEW_SOURCE).join("").replace(IMAGE, "$1")));
  return firstChars(plain.replace(/\s+/g, " ").trim(), PREVIEW_CHARS).join("");
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

// When the storage is full, what of a stored session is shortened first: command outputs (a reopened session shows
// none, and a reloaded one a part is enough), then any very long text.
const OUTPUT_KEYS = new Set(["stdout", "stderr"]);
const OUTPUT_KEEP = 2000;
const TEXT_KEEP = 20000;

/** `s` cut to about `limit` characters, its beginning and end kept around a note of the cut. */
function shorten(s, limit) {
  if (s.length <= limit) return s;
  const keep = limit - 100; // room for the note, so a text shortened once is not shortened again
  let head = Math.floor(keep / 2);
  let tail = s.length - (keep - head);
  const code = (i) => s.charCodeAt(i);
  if (code(head - 1) >= 0xd800 && code(head - 1) <= 0xdbff) head--; // not between the halves of a surrogate pair
  if (code(tail) >= 0xdc00 && code(tail) <= 0xdfff) tail++;
  return `${s.slice(0, head)}… [${tail - head} characters not kept: the phone's storage was full] …${s.slice(tail)}`;
}

/**
 * `value` with its strings longer than `limit` shortened: all of them, or those under `keys` only. What holds none
 * is returned as it is (the same object), so the caller sees whether anything changed.
 */
function shortenStrings(value, limit, keys = null, key = null) {
  if (typeof value === "string") return !keys || keys.has(key) ? shorten(value, limit) : value;
  if (!value || typeof value !== "object") return value;
  let changed = false;
  const out = Array.isArray(value) ? [] : {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = shortenStrings(v, limit, keys, Array.isArray(value) ? key : k);
    changed ||= out[k] !== v;
  }
  return changed ? out : value;
}

function write(storage, items) {
  try {
    storage.setItem(KEY, JSON.stringify(items));
    return true;
  } catch {
    return false;
  }
}

/**
 * Save the sessions, the newest first being the one on screen. When the storage is full, the stored form is made
 * smaller until it fits: command outputs are shortened, then very long texts (the oldest sessions first, the one on
 * screen last), then the oldest sessions are dropped (never the one on screen). What was saved, or null when even
 * that does not fit: what was stored before is then kept as it was, never wiped.
 */
export function saveHistory(storage, list) {
  let items = prune(list);
  if (write(storage, items)) return items;
  for (const [limit, keys] of [
    [OUTPUT_KEEP, OUTPUT_KEYS],
    [TEXT_KEEP, null],
  ]) {
    for (let i = items.length - 1; i >= 0; i--) {
      const entries = shortenStrings(items[i].entries || [], limit, keys);
      if (entries === items[i].entries || !items[i].entries) continue;
      items = items.map((s, k) => (k === i ? { ...s, entries } : s));
      if (write(storage, items)) return items;
    }
  }
  while (items.length > 1) {
    items = items.slice(0, -1);
    if (write(storage, items)) return items;
  }
  return null;
}
