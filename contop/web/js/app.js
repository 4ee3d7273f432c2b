// The phone client: wires pairing, the connection, the store and the views together.

import { fragmentValue, parsePayload, PairingError, desktopLabel, codeRefused, forgetQuestion, pageHostHint } from "./pairing.js";
import { parseServerMessage, uuid } from "./envelope.js";
import { createStore, ConnStatus, modelTitle, chipModelTitle, splitModelTitle } from "./store.js";
import {
  reconnectPlan,
  shouldShowReconnecting,
  isFatalClose,
  giveUpInfo,
  retriesByItself,
  AUTO_RETRY_MS,
  connectMessages,
  onceById,
  SILENT_WINDOW_MS,
} from "./reconnect.js";
import { describeClose, describeRefusal, statusTitle } from "./errors.js";

const STATUS_BANNER_MS = 6000;
import { layoutFor, rememberLayout, availableLayouts, orientationOf } from "./layout.js";
import * as storage from "./storage.js";
import * as history from "./history.js";
import { userIntentPayload, isKeyboardAction, KEEP_AWAKE } from "./intents.js";
import { createRtcTransport } from "./transport.js";
import { $, h, icon, formatWhen, vibrate, countdownText, visibleCommand } from "./ui/dom.js";
import { createThreadView } from "./ui/thread.js";
import { setupManualControl } from "./ui/manual.js";
import { createVoice, VOICE_HELP } from "./ui/voice.js";

const ls = (() => {
  try {
    const s = window.localStorage;
    s.setItem("contop.probe", "1");
    s.removeItem("contop.probe");
    return s;
  } catch {
    return storage.memoryStorage();
  }
})();

const store = createStore();
const app = $("app");
const thread = createThreadView($("thread"), $("thread-empty"), $("btn-jump"));

let pairing = null; // the desktop we are (or were last) connected to
let transport = null;
let connectToken = 0; // bumps on every new connection attempt so stale ones stand down
let droppedAt = 0;
let keepaliveTimer = 0;
// kept: the stored entries of a session reopened from History, which its thread shows only in part.
let activeRecord = { id: uuid(), serverSessionId: null, createdAt: Date.now(), kept: null };
let saveTimer = 0;
let layoutPrefs = storage.loadLayoutPrefs(ls);
let orientation = orientationOf(innerWidth, innerHeight);
let currentLayout = layoutFor(layoutPrefs, orientation);
let historyRange = "all";

const makeTransport = (opts) => (window.__contopTransportFactory || createRtcTransport)(opts);

// ---------------------------------------------------------------- screens

function show(screen) {
  for (const id of ["welcome", "connect", "session"]) $(`screen-${id}`).hidden = id !== screen;
  app.dataset.screen = screen;
  if (screen !== "session") closeSheets();
}

function renderWelcome(errorText = null) {
  const err = $("welcome-error");
  err.hidden = !errorText;
  if (errorText) err.replaceChildren(h("b", {}, "That code didn't work"), errorText);
  const list = storage.loadPairings(ls);
  $("paired-section").hidden = list.length === 0;
  $("paired-list").replaceChildren(...list.map((p) => desktopItem(p, true)));
  show("welcome");
}

function desktopItem(p, withConnect) {
  const isCurrent = pairing && p.d === pairing.d && store.state.conn.status === ConnStatus.CONNECTED;
  // The desktop refused this code (revoked or expired): Connect could only fail again, a new code is the way back.
  const refused = p.refused && !isCurrent;
  const sub = [
    desktopLabel(p) === p.h ? `port ${p.p}` : `${p.h}:${p.p}`,
    p.c === "temp" ? "temporary" : "permanent",
    p.lastUsed ? `used ${formatWhen(p.lastUsed).toLowerCase()}` : "",
  ]
    .filter(Boolean)
    .join(" · ");
  return h(
    "li",
    { class: `desk-item${isCurrent ? " current" : ""}`, "data-fingerprint": p.d },
    h("div", { class: "desk-icon" }, icon("desktop")),
    h(
      "div",
      { class: "desk-main" },
      h("div", { class: "desk-name" }, desktopLabel(p)),
      h("div", { class: "desk-sub" }, sub),
      refused ? h("div", { class: "desk-note" }, "Code no longer valid: scan a new code from the desktop.") : null,
    ),
    withConnect && !isCurrent && !refused
      ? h("button", { class: "btn compact primary", type: "button", onclick: () => connectTo(p) }, "Connect")
      : isCurrent
        ? h("span", { class: "badge ok" }, "Connected")
        : null,
    h(
      "button",
      {
        class: "icon-btn",
        type: "button",
        "aria-label": `Forget ${desktopLabel(p)}`,
        onclick: () => askForget(p),
      },
      icon("trash"),
    ),
  );
}

// ---------------------------------------------------------------- connection

function setConn(conn) {
  store.dispatch({ type: "conn", conn });
}

function showConnecting(p) {
  const screen = $("screen-connect");
  screen.classList.remove("has-error");
  $("connect-error").hidden = true;
  $("connect-title").textContent = "Connecting";
  $("connect-desktop").textContent = desktopLabel(p);
  $("connect-step").textContent = "Preparing…";
  $("btn-cancel-connect").hidden = false;
  show("connect");
}

function showConnectError(info) {
  const screen = $("screen-connect");
  screen.classList.add("has-error");
  const card = $("connect-error");
  card.hidden = false;
  card.dataset.kind = info.kind || "";
  card.classList.toggle("warn", info.action === "retry");
  $("connect-error-title").textContent = info.title;
  $("connect-error-message").textContent = info.message;
  const detail = $("connect-error-detail");
  const extra = info.serverMessage && !info.message.includes(info.serverMessage) ? `Desktop says: ${info.serverMessage}` : "";
  detail.hidden = !extra;
  detail.textContent = visibleCommand(extra);
  $("btn-retry").hidden = info.action === "rescan";
  $("btn-rescan").hidden = info.action !== "rescan";
  $("btn-cancel-connect").hidden = true;
  show("connect");
}

/**
 * A transport to `p` for connection attempt `token`. Its callbacks count only while it is the app's current
 * `transport` (and the attempt is still the current one): a transport superseded by a reconnect still reports
 * its desktop closing it (4002, replaced), its peer's drop and late messages, and those must change nothing.
 */
function openTransport(p, token) {
  let self = null;
  const current = () => token === connectToken && self === transport;
  // Messages count from the transport a reconnect is opening too: the desktop may flush its queue before that
  // transport has taken over.
  const speaking = () => token === connectToken && (self === transport || self === replacing);
  self = makeTransport({
    pairing: p,
    origin: location.origin,
    deviceId: storage.deviceId(ls),
    deviceName: storage.deviceName(ls, navigator.userAgent),
    log: console,
    onStatus: (step) => {
      if (token !== connectToken) return;
      setConn({ step });
      $("connect-step").textContent = step;
    },
    onMessage: (raw) => {
      if (!speaking()) return;
      const parsed = parseServerMessage(raw);
      if (!parsed.ok) {
        console.warn("contop: ignoring malformed message:", parsed.reason);
        return;
      }
      if (!firstTime(parsed.msg)) return; // sent again after a lost link, and had arrived after all
      handleServer(parsed.msg);
    },
    onTrack: (stream) => {
      if (token !== connectToken) return;
      // A reconnect's transport gets its track while it negotiates, before it becomes the current one.
      if (self === transport) attachVideo(stream);
      else incomingStreams.set(self, stream);
    },
    onDrop: () => {
      if (!current() || reconnecting === token) return;
      reconnect(token);
    },
    onFatal: (info) => {
      // While a new transport is being opened the desktop closes the old one with 4002 for that very reason.
      if (!current() || (replacing && reconnecting === token)) return;
      console.warn("contop: the desktop ended this connection:", info.kind);
      endConnection(info);
    },
  });
  return self;
}

const firstTime = onceById();
const incomingStreams = new WeakMap(); // transport → the video stream it received before it became current
let reconnecting = 0; // the token whose reconnect loop runs
let replacing = null; // the transport a reconnect attempt is opening

/** A reconnect attempt still negotiating is dropped with the connection it was for. */
function abandonAttempt() {
  replacing?.close();
  replacing = null;
}

async function connectTo(p) {
  pairing = p;
  storage.touchPairing(ls, p.d);
  const token = ++connectToken;
  abandonAttempt();
  transport?.close();
  transport = null;
  detachVideo();
  showConnecting(p);
  setConn({ status: ConnStatus.CONNECTING, error: null, attempt: 0 });
  transport = openTransport(p, token);
  try {
    await transport.connect();
  } catch (err) {
    if (token !== connectToken) return;
    let info = err.info || describeClose(0, String(err.message || err));
    const hint = info.kind === "unreachable" ? pageHostHint(p, location.hostname) : "";
    if (hint) info = { ...info, message: info.message + hint };
    console.warn("contop: connection failed:", info.kind, info.title);
    // An old link (its code revoked or expired) must not cost the phone the code it already has for that desktop,
    // unless that code was refused too.
    const kept = codeRefused(info) ? storage.pairingReplacedBy(ls, p) : null;
    if (kept && !kept.refused) {
      toast("That link is old: its code no longer works. Connecting with the code this phone already has.", "warn", 6000);
      connectTo(kept);
      return;
    }
    if (codeRefused(info)) storage.setCodeRefused(ls, p, true);
    setConn({ status: ConnStatus.FAILED, error: info });
    showConnectError(info);
    setAutoRetry(retriesByItself(info));
    return;
  }
  if (token !== connectToken) return;
  // A code from a link replaces the one stored for its desktop only now that it has connected.
  if (storage.pairingReplacedBy(ls, p)) pairing = storage.savePairing(ls, p);
  else storage.setCodeRefused(ls, p, false);
  onConnected();
}

let resetPending = false; // "New session" tapped while offline: the desktop is told on connect

/** healed: the old link came back by itself (no new connection, so no greeting from the desktop). */
function onConnected({ healed = false } = {}) {
  setAutoRetry(false);
  store.dispatch({ type: "conn", conn: { status: ConnStatus.CONNECTED, error: null, attempt: 0, step: "" }, healed });
  $("session-title").textContent = desktopLabel(pairing);
  show("session");
  if (!$("video").srcObject || !$("video").videoWidth) armNoPictureTimer();
  const messages = connectMessages({
    resetPending,
    serverSessionId: activeRecord.serverSessionId,
    manual: store.state.manual,
    stopping: store.state.stopping && !healed,
  });
  for (const m of messages) {
    const id = m.quiet ? sendQuiet(m.type, m.payload, m.quiet) : send(m.type, m.payload);
    if (id && m.type === "new_session") resetPending = false;
  }
  clearInterval(keepaliveTimer);
  keepaliveTimer = setInterval(() => send("keepalive", {}), 30000);
}

/** The desktop ended this connection for good (replaced by another tab, revoked): no reconnect until asked. */
function endConnection(info) {
  connectToken++; // a reconnect loop, or an attempt in flight, stands down
  if (codeRefused(info) && pairing) storage.setCodeRefused(ls, pairing, true);
  setAutoRetry(false);
  abandonAttempt();
  clearInterval(keepaliveTimer);
  transport?.close();
  detachVideo();
  setConn({ status: ConnStatus.FAILED, error: info });
  showConnectError(info);
}

async function reconnect(token) {
  reconnecting = token;
  try {
    await reconnectLoop(token);
  } finally {
    if (reconnecting === token) reconnecting = 0;
  }
}

async function reconnectLoop(token) {
  clearInterval(keepaliveTimer);
  droppedAt = Date.now();
  setConn({ status: ConnStatus.RECONNECTING, attempt: 0 });
  setTimeout(render, SILENT_WINDOW_MS + 50);
  let lastInfo = null;
  for (let attempt = 0; ; attempt++) {
    const plan = reconnectPlan(attempt);
    if (!plan) break;
    await new Promise((r) => setTimeout(r, plan.delayMs));
    if (token !== connectToken) return;
    if (transport?.connected) return onConnected({ healed: true }); // the link healed on its own
    setConn({ attempt: attempt + 1 });
    // Always a full reconnect (the desktop does not do ICE restarts). The new transport opens first and the old
    // one (with its signaling socket) closes only after: if the old path still carries packets, the desktop sees
    // this device come back and hands the running task over, instead of seeing the old link close and
    // cancelling it.
    const old = transport;
    const next = openTransport(pairing, token);
    replacing = next;
    try {
      await next.connect();
    } catch (err) {
      if (replacing === next) replacing = null;
      if (token !== connectToken) return;
      if (!old?.connected) old?.close(); // dead anyway; a live one may still heal before the next attempt
      const info = err.info;
      if (info && (info.action === "rescan" || isFatalClose(info.code))) {
        endConnection(info);
        return;
      }
      lastInfo = info || null;
      console.warn("contop: reconnect attempt failed:", info?.kind || err.message);
      continue;
    }
    if (replacing === next) replacing = null;
    if (token !== connectToken) {
      next.close(); // given up or replaced meanwhile: this link must not stay open
      return;
    }
    transport = next;
    old?.close();
    // The old picture is frozen: show the new link's video, or the placeholder when its answer has none.
    detachVideo();
    const stream = incomingStreams.get(next);
    if (stream) attachVideo(stream);
    return onConnected();
  }
  if (token !== connectToken) return;
  if (transport?.connected) return onConnected({ healed: true }); // the old link came back during the last try
  transport?.close();
  const info = giveUpInfo(lastInfo);
  setConn({ status: ConnStatus.FAILED, error: info });
  showConnectError(info);
  setAutoRetry(retriesByItself(info));
}

// From the give-up screen the phone tries again by itself: when the user comes back to the app, when the network
// returns, and every AUTO_RETRY_MS while the app is in front. Off once connected, and after the user disconnected
// or forgot the desktop or the desktop ended the connection for good (those wait for the user).
let autoRetry = false;
let autoRetryTimer = 0;

function setAutoRetry(on) {
  autoRetry = on;
  clearInterval(autoRetryTimer);
  autoRetryTimer = on ? setInterval(retryByItself, AUTO_RETRY_MS) : 0;
}

function retryByItself() {
  if (!autoRetry || !pairing || document.visibilityState !== "visible") return;
  if (store.state.conn.status !== ConnStatus.FAILED) return; // an attempt is on its way
  console.info("contop: trying the desktop again");
  connectTo(pairing);
}

for (const ev of ["focus", "pageshow", "online"]) addEventListener(ev, retryByItself);
document.addEventListener("visibilitychange", retryByItself);

function disconnect() {
  connectToken++;
  setAutoRetry(false);
  abandonAttempt();
  clearInterval(keepaliveTimer);
  transport?.close();
  transport = null;
  setConn({ status: ConnStatus.IDLE, error: null });
  detachVideo();
}

/** Forgetting cannot be undone from the phone (its code goes with it), and leaves the desktop's side: asked first. */
function askForget(p) {
  const linked = isLinkedTo(p);
  const question = forgetQuestion(p, {
    deviceName: storage.deviceName(ls, navigator.userAgent),
    connected: linked,
    running: linked && store.state.running,
  });
  ask({ ...question, onConfirm: () => forgetDesktop(p) });
}

/** Whether this phone is connected to desktop `p` now. */
function isLinkedTo(p) {
  return !!pairing && p.d === pairing.d && store.state.conn.status === ConnStatus.CONNECTED;
}

function forgetDesktop(p) {
  storage.forgetPairing(ls, p.d);
  if (pairing && p.d === pairing.d) {
    disconnect();
    pairing = null;
    renderWelcome();
    toast("Forgotten on this phone. It stays paired on the desktop until revoked there (Devices).", "info", 5000);
  } else if (app.dataset.screen === "welcome") {
    renderWelcome();
  } else {
    renderSettings();
  }
}

/** The message's id; null when not connected; false when it is too big to send (the user has been told why). */
function send(type, payload) {
  if (!transport || store.state.conn.status !== ConnStatus.CONNECTED) return null;
  try {
    return transport.send(type, payload);
  } catch (err) {
    if (!err.tooLarge) throw err;
    toast(err.tooLarge, "warn", 6000);
    return false;
  }
}

// Requests the app makes on its own or from settings: an error reply marks the feature unavailable on this
// desktop (shown in settings, or as a toast when the user asked) instead of cluttering the thread.
const quietRequests = new Map(); // id → {feature, user}
const MANUAL_KEYS = "manual_keys"; // keys and text of manual control: refused on their own, never marked unavailable

function sendQuiet(type, payload, feature, user = false) {
  const id = send(type, payload);
  if (id) {
    quietRequests.set(id, { feature, user });
    if (quietRequests.size > 50) quietRequests.delete(quietRequests.keys().next().value);
  }
  return id;
}

// ---------------------------------------------------------------- messages

function handleServer(msg) {
  const quiet = msg.type === "error" && msg.payload.ref_id ? quietRequests.get(msg.payload.ref_id) : null;
  if (quiet) {
    quietRequests.delete(msg.payload.ref_id);
    manualProbes.delete(msg.payload.ref_id);
    const manual = quiet.feature === "manual" || quiet.feature === MANUAL_KEYS;
    if (manual) manualControl.refused(msg.payload.ref_id); // text it was to type goes back into the box
    if (manual && msg.payload.reason === "agent_running") {
      // A task started from another device (a desktop without desk_busy tells nothing else): manual control waits.
      if (store.state.manual) leaveManualForRun();
      return;
    }
    console.info(`contop: ${quiet.feature} unavailable:`, msg.payload.code, msg.payload.message);
    // The desktop's own reason ("no PIN set") says more than a generic sentence; asked again on reconnect.
    const reason = visibleCommand(describeRefusal(msg.payload));
    if (quiet.feature === MANUAL_KEYS) {
      // Refused while the desk is locked, or this one text too long: the pointer still works, and the next keys
      // are tried (and any refusal told) again.
      toast(reason, "warn", 5000);
      return;
    }
    if (msg.payload.code === "not_available" || msg.payload.code === "unknown_type") {
      const own = msg.payload.code === "not_available" && msg.payload.message.trim() !== "";
      store.dispatch({ type: "unavailable", feature: quiet.feature, reason: own ? reason : null });
    }
    if (quiet.user) toast(reason, "warn");
    return;
  }
  const before = store.state;
  store.dispatch({ type: "server", msg });
  if ((store.state.running || store.state.deskBusy) && store.state.manual) leaveManualForRun();
  if (msg.type === "error" && msg.payload.code === "busy") {
    // Refused as busy: what was asked goes back into an empty box, to send once the other task has ended.
    const asked = before.entries.find((e) => e.id === `user-${msg.payload.ref_id}`);
    if (asked && !input.value.trim()) {
      input.value = asked.text;
      saveDraft();
      autosize();
    }
  }
  if (msg.type === "agent_status") setTimeout(render, STATUS_BANNER_MS + 50);
  if (msg.type === "agent_status") videoState(msg.payload);
  if (msg.type === "agent_confirmation_request") vibrate([20, 60, 20]);
  if (msg.type === "security_alert") vibrate([40, 80, 40]);
  if (msg.type === "agent_result" && store.state.sessionId && store.state.sessionId !== before.sessionId) {
    activeRecord.serverSessionId = store.state.sessionId;
  }
}

// ---------------------------------------------------------------- video

let noPictureTimer = 0;
const WAITING_FOR_PICTURE = "Waiting for the desktop's screen…";

/** If no frame arrives within a while, say why that may be instead of spinning forever. */
function armNoPictureTimer() {
  clearTimeout(noPictureTimer);
  // The desktop's own reason (its display cannot be reached, say) says more than a guess, and holds until it says
  // video_resumed: the picture comes back by itself then.
  if (!videoStopped) setPlaceholderText(WAITING_FOR_PICTURE);
  noPictureTimer = setTimeout(() => {
    if (!videoStopped && !$("video").videoWidth) {
      setPlaceholderText("No picture from the desktop yet. Its screen may not be shareable (no display, or capture not permitted).");
    }
  }, 12000);
}

// The desktop could not capture its screen (video_unavailable) until it says video_resumed: the last frame is
// frozen, so the placeholder covers it with the desktop's reason.
let videoStopped = false;

function videoState(payload) {
  if (payload.status_type === "video_unavailable") {
    videoStopped = true;
    setPlaceholderText(String(payload.message || "The desktop's screen cannot be captured right now."));
  } else if (payload.status_type === "video_resumed") {
    videoStopped = false;
    // Its reason no longer holds: until the first frame, the placeholder waits for it (and says so if none comes).
    if ($("video").videoWidth) setPlaceholderText(WAITING_FOR_PICTURE);
    else armNoPictureTimer();
  } else {
    return;
  }
  syncPlaceholder();
}

function attachVideo(stream) {
  const video = $("video");
  videoStopped = false;
  armNoPictureTimer();
  video.srcObject = stream;
  video.play?.().catch(() => {});
  syncPlaceholder();
}

let placeholderText = WAITING_FOR_PICTURE; // what it says over a missing or stopped picture
let reconnectText = ""; // while reconnecting (past the silent window): the picture is dead, the placeholder says why

function setPlaceholderText(text) {
  placeholderText = text;
  $("video-placeholder").querySelector("span").textContent = reconnectText || text;
}

function setReconnectText(text) {
  if (text === reconnectText) return;
  reconnectText = text;
  setPlaceholderText(placeholderText);
  syncPlaceholder();
}

function detachVideo() {
  const video = $("video");
  videoStopped = false;
  video.srcObject = null;
  syncPlaceholder();
}

function syncPlaceholder() {
  const v = $("video");
  $("video-placeholder").hidden = !reconnectText && !videoStopped && !!v.srcObject && v.videoWidth > 0;
  // Layouts size the video pane to the desktop's aspect ratio (no black bars in split view).
  if (v.videoWidth > 0 && v.videoHeight > 0) $("screen-session").style.setProperty("--va", String(v.videoWidth / v.videoHeight));
}
for (const ev of ["loadedmetadata", "loadeddata", "playing", "resize", "emptied"]) $("video").addEventListener(ev, syncPlaceholder);

// ---------------------------------------------------------------- render

let lastNoticeId = 0;
let toastTimer = 0;

function toast(text, tone = "info", ms = 2800) {
  const t = $("toast");
  t.textContent = text;
  t.className = `toast ${tone}`;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), ms);
}

let confirmTimer = 0;
// A button that takes another's place under the finger waits a moment (disabled, so the tap goes nowhere): the
// second tap of a double tap meant for the first must not press it.
const HOLD_MS = 600;

/** held() is true for HOLD_MS after start(); the view is drawn again when it ends. */
function tapHold() {
  let held = false;
  let timer = 0;
  return {
    held: () => held,
    start() {
      held = true;
      clearTimeout(timer);
      timer = setTimeout(() => {
        held = false;
        render();
      }, HOLD_MS);
    },
  };
}
// When one question follows another in the same dialog, its buttons wait: a tap meant for the first must not
// answer the next.
const answersHold = tapHold();
// Stop appears where Send was the moment a task starts: a double tap on Send must not stop the task it started.
const stopHold = tapHold();
let confirmOpener = null; // what had focus when the approval dialog opened

// How long the desktop still waits for the answer to the open question (it says no by itself at the end).
function renderCountdown() {
  const c = store.state.confirmation;
  const el = $("confirm-countdown");
  if (!c || !c.deadline) return;
  const left = Math.max(0, Math.ceil((c.deadline - Date.now()) / 1000));
  el.hidden = false;
  el.textContent = left > 0 ? `Answer within ${countdownText(left)}, or it will not run.` : "Time is up: it will not run.";
  el.classList.toggle("urgent", left <= 10);
}

/**
 * The model chip: a long name is cut (ellipsis) before its note, so "(test model)" or NO VISION stays in view; the
 * whole title is the chip's tooltip.
 */
function renderModelChip(title) {
  const label = $("chip-model-label");
  if (label.dataset.title === title) return;
  const [name, note] = splitModelTitle(title);
  label.dataset.title = title;
  label.replaceChildren(h("span", { class: "chip-name" }, name), ...(note ? [h("span", { class: "chip-note" }, note)] : []));
  $("chip-model").title = title;
}

function render() {
  const s = store.state;
  thread.render(s.entries, { busy: s.running && s.conn.status === ConnStatus.CONNECTED });

  // connection line
  const status = s.conn.status;
  const showReconnect = status === ConnStatus.RECONNECTING && shouldShowReconnecting(droppedAt, Date.now());
  $("conn-dot").className = `dot ${status === ConnStatus.RECONNECTING && !showReconnect ? "connected" : status}`;
  $("conn-label").textContent =
    status === ConnStatus.CONNECTED || (status === ConnStatus.RECONNECTING && !showReconnect)
      ? s.connectionType === "temp"
        ? "Connected · temporary"
        : "Connected"
      : status === ConnStatus.RECONNECTING
        ? `Reconnecting (${s.conn.attempt || 1}/5)…`
        : status === ConnStatus.FAILED
          ? "Disconnected"
          : "Connecting…";

  // banners
  const banners = [];
  if (showReconnect) {
    banners.push(
      h(
        "div",
        { class: "banner warn", "data-banner": "reconnecting" },
        icon("wifi"),
        h("div", { class: "banner-text" }, h("b", {}, "Reconnecting…"), `Attempt ${s.conn.attempt || 1} of 5. Your session is kept.`),
      ),
    );
  }
  // A status is told in the thread; the banner repeats only a connection warning, or any status while the thread
  // is hidden (fullscreen layout).
  const bannerStatus = s.lastStatus && (s.lastStatus.statusType === "connection_warning" || currentLayout === "full");
  if (bannerStatus && Date.now() - s.lastStatus.at < STATUS_BANNER_MS) {
    banners.push(
      h(
        "div",
        { class: "banner warn", "data-banner": "status" },
        icon("info"),
        h("div", { class: "banner-text" }, h("b", {}, statusTitle(s.lastStatus.statusType)), visibleCommand(s.lastStatus.message)),
      ),
    );
  }
  for (const a of s.alerts) {
    banners.push(
      h(
        "div",
        { class: "banner danger", "data-banner": "security", role: "alert" },
        icon("shield"),
        h(
          "div",
          { class: "banner-text" },
          h("b", {}, "Security alert", a.count > 1 ? h("span", { class: "banner-count" }, ` ×${a.count}`) : null),
          visibleCommand(a.message),
        ),
        h("button", { class: "icon-btn", type: "button", "aria-label": "Dismiss", onclick: () => store.dispatch({ type: "dismiss_alert", id: a.id }) }, icon("close")),
      ),
    );
  }
  $("banners").replaceChildren(...banners);
  setReconnectText(showReconnect ? `Reconnecting to ${desktopLabel(pairing)}… Attempt ${s.conn.attempt || 1} of 5.` : "");

  // composer
  const connected = status === ConnStatus.CONNECTED;
  const text = $("intent-input").value.trim();
  $("btn-send").disabled = !text || !connected || s.running;
  if ($("btn-stop").hidden && s.running) stopHold.start();
  $("btn-stop").hidden = !s.running;
  // One task at a time: while one runs, Stop takes Send's place (what is typed stays for afterwards).
  $("btn-send").hidden = s.running;
  // Another device's task holds the desk: Send stays (the desktop's answer says whose task it is), the box warns.
  $("intent-input").placeholder = s.running
    ? "Task running · Stop it or wait to send more"
    : s.deskBusy
      ? `${s.deskBusy.device} is running a task here · wait for its answer`
      : "Ask your desktop…";
  // New (and another session from History) would take the conversation away from the running task.
  for (const id of ["chip-new", "btn-history-new"]) {
    const b = $(id);
    b.setAttribute("aria-disabled", String(s.running));
    if (s.running) b.title = RUNNING_HELP.switch;
    else b.removeAttribute("title");
  }
  $("btn-stop").disabled = s.stopping || stopHold.held();
  $("btn-stop").setAttribute("aria-label", s.stopping ? "Stopping" : "Stop");
  $("chip-thinking").setAttribute("aria-pressed", String(s.thinking));
  renderModelChip(chipModelTitle(s));

  // manual
  $("composer").hidden = s.manual;
  // While Away Mode's lock holds the desk, the desktop refuses keys and text: the box says so before they are sent.
  const deskLocked = s.away.known && s.away.active && s.away.overlay;
  $("type-input").placeholder = deskLocked ? "Desk locked: unlock it to type" : "Type on the desktop…";
  // Refused (its display gone, say): taps do nothing on the desktop, so the panel says why for as long as that lasts.
  const refused = s.unavailable.manual;
  const hint = $("manual-hint");
  hint.textContent = refused ? visibleCommand(typeof refused === "string" ? refused : MANUAL_REFUSED) : MANUAL_HINT;
  hint.classList.toggle("warn", !!refused);
  $("manual-panel").hidden = !s.manual;
  $("manual-badge").hidden = !s.manual;
  // The picture shows the desktop under Away Mode's lock: say that the desk itself is locked.
  $("away-badge").hidden = !(s.away.known && s.away.active);
  $("btn-manual").setAttribute("aria-pressed", String(s.manual));
  // Manual control waits while a task runs, this phone's or another device's (a tap says why).
  const manualWait = manualWaitHelp(s);
  $("btn-manual").setAttribute("aria-disabled", String(manualWait !== null));
  $("btn-manual").setAttribute("aria-label", manualWait ? `Manual control: ${manualWait}` : "Manual control");
  if (manualWait) $("btn-manual").title = manualWait;
  else $("btn-manual").removeAttribute("title");
  // In manual mode every tap on the picture is a click on the desktop (its corner holds a tray or clock): the round
  // button leaves the picture (the panel's Done leaves manual mode), and the video layout's thread stops over it.
  $("btn-manual").hidden = s.manual;
  $("screen-session").dataset.manual = String(s.manual);

  // confirmation
  const c = s.confirmation;
  const modal = $("confirm-modal");
  if (c && modal.dataset.requestId !== c.requestId) {
    // The next question took the answered one's place.
    if (!modal.hidden && modal.dataset.requestId) answersHold.start();
    modal.dataset.requestId = c.requestId;
    modal.classList.toggle("plan", c.isPlan);
    $("confirm-title").textContent = c.isPlan ? "Approve the plan?" : "Approve this action?";
    // Everything on the card the desktop wrote (its message quotes the command) is shown as the command is: what
    // would reorder or hide part of it (U+202E, control characters) is shown as an escape.
    $("confirm-message").textContent = visibleCommand(
      c.voiceMessage || (c.isPlan ? "The agent wants to follow this plan." : "The agent wants to run something that needs your OK."),
    );
    $("confirm-tool").textContent = visibleCommand(c.tool);
    $("confirm-tool").hidden = c.isPlan;
    $("confirm-icon").replaceChildren(icon(c.isPlan ? "sparkle" : "warn"));
    // The reason is a code ("destructive_command") or a sentence; skip it when the message already says it.
    const reason = c.reason === "blocked_force_host" ? "would run without the sandbox" : c.reason.replace(/_/g, " ");
    $("confirm-reason").textContent = c.isPlan || (c.voiceMessage && c.voiceMessage.includes(c.reason)) ? "" : visibleCommand(reason);
    $("confirm-command").textContent = visibleCommand(c.command);
    $("confirm-command").hidden = !c.command;
  }
  // A pending request is kept while the link is down (the desktop may still wait for it): hidden until back.
  const wasHidden = modal.hidden;
  modal.hidden = !c || !connected;
  if (wasHidden && !modal.hidden) {
    // Focus goes into the dialog (not onto Approve: a stray Enter must not say yes) and back when it closes.
    confirmOpener = document.activeElement;
    modal.querySelector(".modal-card").focus();
  } else if (!wasHidden && modal.hidden) {
    if (modal.contains(document.activeElement) || document.activeElement === document.body) giveFocusBack(confirmOpener);
    confirmOpener = null;
  }
  if (!c) delete modal.dataset.requestId;
  // Once a stop is asked, the approval waits for the task's end, unanswerable: the desktop rejects it as it stops.
  $("btn-confirm-stop").hidden = !s.running;
  $("btn-confirm-stop").disabled = s.stopping;
  $("btn-confirm-stop").textContent = s.stopping ? "Stopping…" : "Stop the task";
  $("btn-approve").disabled = $("btn-deny").disabled = s.stopping || answersHold.held();
  const waiting = s.confirmQueue.length;
  $("confirm-queue").hidden = !c || !waiting;
  $("confirm-queue").textContent = `${waiting} more approval${waiting === 1 ? "" : "s"} waiting after this one.`;
  if (!modal.hidden && c.deadline) {
    renderCountdown();
    confirmTimer ||= setInterval(renderCountdown, 1000);
  } else {
    clearInterval(confirmTimer);
    confirmTimer = 0;
    $("confirm-countdown").hidden = true;
  }

  if (s.notice && s.notice.id !== lastNoticeId) {
    lastNoticeId = s.notice.id;
    toast(s.notice.text, s.notice.tone);
  }
  if (!$("sheet-settings").hidden) renderSettings();
}

store.subscribe((s, prev) => {
  render();
  if (s.entries !== prev.entries) scheduleSave();
});

// ---------------------------------------------------------------- history

const HISTORY_FULL =
  "The phone's storage is full, so History has not saved the latest of this conversation (what it had is kept). " +
  "Start a new session to go on saving.";
let historyFull = false;

function scheduleSave() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(saveActive, 500);
}

function saveActive() {
  const shown = store.state.entries;
  if (!shown.length) return;
  const entries = activeRecord.kept ? history.entriesToStore(activeRecord.kept, shown) : shown;
  const list = history.loadHistory(ls);
  const existing = list.find((r) => r.id === activeRecord.id);
  const record = {
    ...existing,
    id: activeRecord.id,
    createdAt: activeRecord.createdAt,
    serverSessionId: activeRecord.serverSessionId || store.state.sessionId,
    desktop: pairing ? desktopLabel(pairing) : null,
    model: store.state.model,
    running: store.state.running, // a reload in the middle of the run reopens it as still on
    entries,
  };
  if (history.saveHistory(ls, history.upsertSession(list, record))) historyFull = false;
  else if (!historyFull) {
    // Said once until a save works again: the thread on screen is intact, only what History keeps is behind.
    historyFull = true;
    toast(HISTORY_FULL, "warn", 8000);
  }
}

function setActiveRecord(record) {
  activeRecord = record;
  history.saveActiveId(ls, record.id);
}

/**
 * A reload (or the browser reopening the app) shows the session the thread showed, whole: the request, the steps
 * so far, and then what the desktop sends next. A fresh page used to start an empty session, the run in progress
 * only findable in History.
 */
function reopenActive() {
  const id = history.loadActiveId(ls);
  const record = id ? history.loadHistory(ls).find((r) => r.id === id) : null;
  // An empty conversation is not in the history, but it keeps its id (and so its draft) across a reload.
  if (!record) return setActiveRecord(id ? { ...activeRecord, id } : activeRecord);
  setActiveRecord({ id: record.id, serverSessionId: record.serverSessionId || null, createdAt: record.createdAt });
  store.dispatch({
    type: "restore",
    entries: history.entriesForReload(record.entries || []),
    sessionId: record.serverSessionId,
    running: record.running === true,
  });
}

// Why New, opening another session and Send wait while a task runs on the desktop: the thread on screen is that
// task's (its Stop, its steps, its answer), and the desktop runs one task at a time.
const RUNNING_HELP = {
  switch: "Stop the current task first (or wait for its answer): it keeps this conversation until it ends.",
  send: "A task is running. Wait for its answer, or tap Stop, then send this.",
  // The agent drives the mouse and keyboard while a task runs.
  manual: "The agent is running a task. Stop it (or wait for its answer) to take control.",
};

/** Why manual control waits (a task runs: this phone's, or another device's on the same desktop), or null. */
function manualWaitHelp(s) {
  if (s.running) return RUNNING_HELP.manual;
  if (s.deskBusy) return `A task from ${s.deskBusy.device} is running on this desktop. Wait for its answer to take control.`;
  return null;
}

/** False (and says why) while a task runs: the conversation must not change under it. */
function canLeaveConversation() {
  if (!store.state.running) return true;
  toast(RUNNING_HELP.switch, "warn", 4000);
  return false;
}

function startNewSession() {
  if (!canLeaveConversation()) return false;
  saveActive();
  setActiveRecord({ id: uuid(), serverSessionId: null, createdAt: Date.now() });
  store.dispatch({ type: "new_session" });
  // Offline, the desktop is told once connected (and the old conversation is not resumed then).
  resetPending = !send("new_session", {});
  loadDraft();
  return true;
}

function openSession(record) {
  if (record.id === activeRecord.id) return closeSheets();
  if (!canLeaveConversation()) return;
  saveActive();
  // As stored now (the list on screen was read when History opened).
  const stored = history.loadHistory(ls).find((r) => r.id === record.id) || record;
  const kept = stored.entries || [];
  setActiveRecord({ id: stored.id, serverSessionId: stored.serverSessionId || null, createdAt: stored.createdAt, kept });
  store.dispatch({ type: "restore", entries: history.entriesForRestore(kept), sessionId: stored.serverSessionId });
  loadDraft();
  if (stored.serverSessionId) {
    if (sendQuiet("session_context", { session_id: stored.serverSessionId }, "resume", true)) toast("Session resumed on the desktop");
    else toast("Will resume on the desktop once connected");
  } else {
    toast("Reopened. The desktop kept no memory of it, so the agent starts fresh.");
  }
  closeSheets();
  thread.scrollToEnd();
}

function renderHistory() {
  const all = history.loadHistory(ls);
  const found = history.searchSessions(all, { text: $("history-search").value, range: historyRange });
  $("history-list").replaceChildren(
    ...found.map((r) => {
      const preview = history.previewOf(r);
      return h(
        "li",
        {},
        h(
          "button",
          { class: `session-card${r.id === activeRecord.id ? " current" : ""}`, type: "button", onclick: () => openSession(r) },
          h("div", { class: "sc-title" }, r.title),
          preview ? h("div", { class: "sc-preview" }, preview) : null,
          h(
            "div",
            { class: "sc-meta" },
            h("span", {}, formatWhen(r.updatedAt)),
            h("span", {}, `${r.entryCount} item${r.entryCount === 1 ? "" : "s"}`),
            r.desktop ? h("span", {}, r.desktop) : null,
            r.id === activeRecord.id ? h("span", { class: "badge ok" }, "Current") : null,
          ),
        ),
      );
    }),
  );
  $("history-empty").hidden = found.length > 0;
  $("history-empty").textContent = all.length ? "No session matches." : "No sessions yet. What you ask appears here.";
}

// ---------------------------------------------------------------- sheets

const SHEETS = ["sheet-layout", "sheet-history", "sheet-settings"];
let sheetOpener = null; // what had focus when a sheet opened: it gets it back when the sheet closes

function openSheet(id) {
  const opener = sheetOpener || document.activeElement;
  closeSheets();
  sheetOpener = opener;
  $("scrim").hidden = false;
  $(id).hidden = false;
  $(id).focus(); // into the dialog (aria-modal): Tab then stays inside it
}

function closeSheets() {
  const wasOpen = SHEETS.some((id) => !$(id).hidden);
  for (const id of SHEETS) $(id).hidden = true;
  $("scrim").hidden = true;
  const opener = sheetOpener;
  sheetOpener = null;
  if (wasOpen) giveFocusBack(opener);
}

/** Focus returns to `el` if it is still there and shown; otherwise it stays where it is. */
function giveFocusBack(el) {
  if (el && el !== document.body && el.isConnected && el.getClientRects().length) el.focus({ preventScroll: true });
}

/** The dialog on top (aria-modal): the approval or info dialog over anything else, then an open sheet. */
function topDialog() {
  for (const id of ["info-modal", "ask-modal", "confirm-modal", ...SHEETS]) if (!$(id).hidden) return $(id);
  return null;
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"]), summary';

document.addEventListener("keydown", (ev) => {
  const dialog = topDialog();
  if (!dialog) return;
  if (ev.key === "Escape") {
    ev.preventDefault();
    // Escape closes a sheet or the info dialog, and says no to a question; the approval dialog stays (no answer is
    // not a yes, nor a no).
    if (dialog.id === "info-modal") closeInfo();
    else if (dialog.id === "ask-modal") closeAsk(false);
    else if (SHEETS.includes(dialog.id)) closeSheets();
    return;
  }
  if (ev.key !== "Tab") return;
  const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length && !el.closest("[hidden]"));
  if (!items.length) {
    ev.preventDefault();
    return;
  }
  const first = items[0];
  const last = items[items.length - 1];
  const inside = dialog.contains(document.activeElement);
  if (ev.shiftKey && (!inside || document.activeElement === first || document.activeElement === dialog || document.activeElement === dialog.firstElementChild)) {
    ev.preventDefault();
    last.focus();
  } else if (!ev.shiftKey && (!inside || document.activeElement === last)) {
    ev.preventDefault();
    first.focus();
  }
});

function renderLayoutSheet() {
  const glyph = (id) => {
    const land = orientation === "landscape";
    const cells = {
      video: land ? ["v", "t"] : ["v", "v", "t"],
      split: ["v", "t"],
      thread: land ? ["v", "t"] : ["v", "t", "t"],
      side: ["v", "t"],
      full: ["v"],
    }[id];
    const g = h("span", { class: `layout-glyph${land ? " land" : ""}` }, cells.map((c) => h("i", { class: c })));
    if (id === "side") g.style.gridTemplateColumns = "3fr 2fr";
    else if (land && id === "video") g.style.gridTemplateRows = "3fr 1fr";
    else if (land && id === "thread") g.style.gridTemplateRows = "1fr 3fr";
    return g;
  };
  $("layout-options").replaceChildren(
    ...availableLayouts(orientation).map((l) =>
      h(
        "button",
        { class: `layout-opt${l.id === currentLayout ? " on" : ""}`, type: "button", "data-layout": l.id, onclick: () => chooseLayout(l.id) },
        glyph(l.id),
        l.label,
      ),
    ),
  );
}

function applyLayout() {
  currentLayout = layoutFor(layoutPrefs, orientation);
  $("screen-session").dataset.layout = currentLayout;
  $("btn-exit-full").hidden = currentLayout !== "full";
}

function chooseLayout(id) {
  layoutPrefs = rememberLayout(layoutPrefs, orientation, id);
  storage.saveLayoutPrefs(ls, layoutPrefs);
  applyLayout();
  closeSheets();
  if (id === "full") document.documentElement.requestFullscreen?.().catch(() => {});
  else if (document.fullscreenElement) document.exitFullscreen?.().catch(() => {});
}

function renderSettings() {
  const s = store.state;
  const p = pairing;
  $("set-desktop-name").textContent = p ? desktopLabel(p) : "No desktop";
  $("set-desktop-sub").textContent = p ? [p.h + ":" + p.p, p.ts ? `Tailscale ${p.ts}` : ""].filter(Boolean).join(" · ") : "";
  const badge = $("set-conn-badge");
  const connected = s.conn.status === ConnStatus.CONNECTED;
  badge.textContent = connected ? (s.connectionType || p?.c) === "temp" ? "Temporary" : "Connected" : "Offline";
  badge.className = `badge ${connected ? "ok" : "warn"}`;
  const ka = $("set-keep-awake");
  ka.checked = s.keepAwake;
  ka.disabled = !connected;
  const away = $("btn-away");
  // A refusal (no PIN set yet) is shown but does not lock the button: the desktop may have been set up since.
  away.disabled = !connected;
  away.textContent = s.away.active ? "Disengage" : "Engage";
  away.className = `btn compact ${s.away.active ? "primary" : ""}`;
  $("set-away-sub").textContent = s.unavailable.away
    ? typeof s.unavailable.away === "string"
      ? s.unavailable.away
      : "Not available on this desktop yet"
    : !s.away.known
    ? "Lock the desktop's screen while you're away"
    : s.away.active
      ? s.away.overlay
        ? "On · the desktop is locked"
        : "On · lock screen not showing"
      : "Off";
  const sel = $("set-model");
  const want = s.models.map((m) => m.id).join("|") + "#" + (s.model || "") + (s.noModel ? "#none" : "");
  if (sel.dataset.sig !== want) {
    sel.dataset.sig = want;
    sel.replaceChildren(
      h("option", { value: "" }, s.noModel ? "No model" : "Desktop default"),
      ...s.models.map((m) => h("option", { value: m.id, selected: m.id === s.model }, modelTitle(m))),
    );
    sel.value = s.model || "";
  }
  sel.disabled = s.models.length === 0;
  $("set-model-sub").textContent = s.models.length
    ? "Used for your next request"
    : s.noModel
      ? "None set up on the desktop"
      : "Chosen on the desktop";
  $("set-thinking").checked = s.thinking;
  const nameInput = $("set-device-name");
  if (document.activeElement !== nameInput) nameInput.value = storage.deviceName(ls, navigator.userAgent);
  const list = storage.loadPairings(ls);
  $("set-paired").replaceChildren(...list.map((x) => desktopItem(x, true)));
}

// ---------------------------------------------------------------- events

$("intent-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("intent-input");
  const text = input.value.trim();
  if (!text) return;
  if (store.state.conn.status !== ConnStatus.CONNECTED) {
    toast("Not connected to the desktop", "warn");
    return;
  }
  const s = store.state;
  if (s.running) {
    // One task at a time: the text stays in the box for when this one has ended.
    toast(RUNNING_HELP.send, "warn", 4000);
    return;
  }
  const id = send("user_intent", userIntentPayload(text, { model: s.model, thinking: s.thinking }));
  if (!id) {
    if (id === null) toast("Couldn't send. The connection is not ready.", "warn");
    return; // the text stays in the box
  }
  input.value = "";
  saveDraft();
  autosize();
  store.dispatch({ type: "user_intent", id, text });
  thread.scrollToEnd(true);
});

const input = $("intent-input");

// The unsent text survives a reload: kept per conversation in sessionStorage (this tab only, gone with it).
const ss = (() => {
  try {
    const s = window.sessionStorage;
    s.setItem("contop.probe", "1");
    s.removeItem("contop.probe");
    return s;
  } catch {
    return storage.memoryStorage();
  }
})();
const draftKey = () => `contop.draft.${activeRecord.id}`;

function saveDraft() {
  try {
    if (input.value) ss.setItem(draftKey(), input.value);
    else ss.removeItem(draftKey());
  } catch {
    /* full: the draft is only lost on reload, as before */
  }
}

/** The box shows the draft of the conversation now on screen (empty for a new one). */
function loadDraft() {
  let text = "";
  try {
    text = ss.getItem(draftKey()) || "";
  } catch {
    /* unreadable: start empty */
  }
  input.value = text;
  autosize();
}

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(132, input.scrollHeight + 2)}px`;
  render();
}
input.addEventListener("input", () => {
  saveDraft();
  autosize();
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("intent-form").requestSubmit();
  }
});

$("suggestions").addEventListener("click", (ev) => {
  const chip = ev.target.closest(".chip");
  if (!chip) return;
  input.value = chip.textContent;
  saveDraft();
  autosize();
  input.focus();
});

function stopTask() {
  if (send("execution_stop", {})) {
    store.dispatch({ type: "stop_requested" });
    vibrate(15);
  }
}
$("btn-stop").addEventListener("click", stopTask);
// The approval covers the Stop button: it offers its own, so a task can be stopped without answering.
$("btn-confirm-stop").addEventListener("click", stopTask);

$("chip-new").addEventListener("click", startNewSession);
$("btn-history-new").addEventListener("click", () => {
  if (startNewSession()) closeSheets();
});
$("chip-thinking").addEventListener("click", () => store.dispatch({ type: "set_thinking", on: !store.state.thinking }));

// What the model chip explains when the desktop has none (the desktop's own answer to a request says it in full).
const NO_MODEL_HELP = {
  title: "No model on the desktop",
  message:
    "The desktop has no AI model set up, so it cannot act on requests yet. On the desktop, add an API key in " +
    "Contop's settings, or set an API key environment variable (such as GEMINI_API_KEY) before starting it, or " +
    "point it at a local OpenAI-compatible server such as Ollama.",
};

$("chip-model").addEventListener("click", () => {
  if (store.state.noModel) showInfo(NO_MODEL_HELP);
  else if (!store.state.models.length) toast("The model is chosen on the desktop");
  else {
    openSheet("sheet-settings");
    renderSettings();
  }
});

$("confirm-modal").addEventListener("click", (ev) => {
  const btn = ev.target.closest("#btn-approve, #btn-deny");
  if (!btn || !store.state.confirmation) return; // expired or answered meanwhile
  const approved = btn.id === "btn-approve";
  const answerId = send("agent_confirmation_response", { approved, request_id: store.state.confirmation.requestId });
  if (!answerId) {
    toast("Not connected to the desktop: your answer was not sent", "warn");
    return;
  }
  // The channel takes the answer even over a link that died a moment ago (the browser notices seconds later). The
  // desktop answers a keepalive, and this one goes behind the answer on the same ordered channel: its reply says the
  // answer arrived. Until then the card says it is on its way; if the link is lost first, that it did not arrive.
  const probeId = send("keepalive", {}) || null;
  store.dispatch({ type: "confirmation_answered", approved, answerId, probeId });
  vibrate(10);
});

$("btn-manual").addEventListener("click", () => setManual(!store.state.manual));
$("btn-manual-done").addEventListener("click", () => setManual(false));
function setManual(enabled) {
  if (enabled && store.state.conn.status !== ConnStatus.CONNECTED) return toast("Not connected to the desktop", "warn");
  const wait = enabled ? manualWaitHelp(store.state) : null;
  if (wait) return toast(wait, "warn", 4000);
  if (!enabled) manualControl.leave(); // a button held on the desktop is let go while manual mode still takes it
  sendQuiet("set_manual_mode", { enabled }, "manual");
  store.dispatch({ type: "manual", enabled });
}

// While manual control is refused (the desktop's display went away, say), the panel says why. The desktop answers
// a manual action only when it fails: one it has not refused within MANUAL_OK_MS worked, and the panel is as before.
// Pointer moves do not count: the desktop reports at most one failed move a second.
const MANUAL_OK_MS = 3000;
const MANUAL_HINT = "Tap to click · drag to point · pinch to zoom";
const MANUAL_REFUSED = "The desktop can't take manual control right now."; // refused without a reason
const manualProbes = new Set(); // ids of manual actions sent while refused, not answered yet

function probeManual(id) {
  manualProbes.add(id);
  setTimeout(() => {
    if (manualProbes.delete(id) && store.state.unavailable.manual) {
      store.dispatch({ type: "available", feature: "manual" });
    }
  }, MANUAL_OK_MS);
}

/** A task started while manual mode was on: the agent and the phone must not drive the same mouse. */
function leaveManualForRun() {
  const other = !store.state.running && store.state.deskBusy ? ` from ${store.state.deskBusy.device}` : "";
  setManual(false);
  toast(`Manual control ended: the agent is running a task${other}.`, "warn", 4000);
}

const manualControl = setupManualControl({
  // Pointer traffic is frequent: if the desktop can't take it, say so once as a toast, not in the thread. Keys and
  // text are refused on their own (Away Mode's lock holds the keyboard only): each refusal of them is told.
  send: (type, payload) => {
    const keys = isKeyboardAction(payload);
    const id = sendQuiet(type, payload, keys ? MANUAL_KEYS : "manual", keys || !store.state.unavailable.manual);
    if (!id && keys) toast("Not connected to the desktop", "warn");
    if (id && store.state.unavailable.manual && payload.action !== "mouse_move") probeManual(id);
    return id;
  },
  isManual: () => store.state.manual,
  onZoom: (scale) => {
    const b = $("zoom-badge");
    b.hidden = scale <= 1.01;
    b.textContent = `${scale.toFixed(1)}×`;
  },
});

$("btn-exit-full").addEventListener("click", () => chooseLayout(orientation === "landscape" ? "side" : "split"));
$("btn-layout").addEventListener("click", () => {
  renderLayoutSheet();
  openSheet("sheet-layout");
});
$("btn-history").addEventListener("click", () => {
  saveActive();
  renderHistory();
  openSheet("sheet-history");
});
$("btn-settings").addEventListener("click", () => {
  renderSettings();
  openSheet("sheet-settings");
});
$("scrim").addEventListener("click", closeSheets);
for (const b of document.querySelectorAll(".sheet-close")) b.addEventListener("click", closeSheets);
$("history-search").addEventListener("input", renderHistory);
$("history-range").addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-range]");
  if (!b) return;
  historyRange = b.dataset.range;
  for (const x of $("history-range").children) {
    x.classList.toggle("on", x === b);
    x.setAttribute("aria-selected", String(x === b));
  }
  renderHistory();
});

$("set-keep-awake").addEventListener("change", (ev) => {
  const on = ev.target.checked;
  sendQuiet("device_control", { action: on ? KEEP_AWAKE.on : KEEP_AWAKE.off }, "keep_awake", true);
});
$("btn-away").addEventListener("click", () => {
  sendQuiet(store.state.away.active ? "away_mode_disengage" : "away_mode_engage", {}, "away", true);
  setTimeout(() => sendQuiet("away_mode_status", {}, "away"), 800);
});
$("set-model").addEventListener("change", (ev) => store.dispatch({ type: "set_model", model: ev.target.value }));
$("set-thinking").addEventListener("change", (ev) => store.dispatch({ type: "set_thinking", on: ev.target.checked }));
$("set-device-name").addEventListener("change", (ev) => {
  const name = storage.setDeviceName(ls, ev.target.value);
  toast(name ? `The desktop will see "${name}" next time` : "Using the automatic name");
});
$("btn-disconnect").addEventListener("click", () => {
  disconnect();
  renderWelcome();
});
$("btn-forget").addEventListener("click", () => pairing && askForget(pairing));

$("btn-retry").addEventListener("click", () => pairing && connectTo(pairing));
$("btn-rescan").addEventListener("click", () => {
  disconnect();
  renderWelcome();
});
$("btn-forget-here").addEventListener("click", () => pairing && askForget(pairing));
$("btn-cancel-connect").addEventListener("click", () => {
  disconnect();
  renderWelcome();
});

// voice
const voice = createVoice({
  onText: (text) => {
    input.value = text;
    saveDraft();
    autosize();
  },
  onState: (on) => {
    $("btn-mic").classList.toggle("recording", on);
    $("btn-mic").setAttribute("aria-label", on ? "Stop listening" : "Voice input");
  },
  onError: (reason) => showInfo(VOICE_HELP[reason] || { title: "Voice stopped", message: `The browser reported: ${reason}.` }),
});
$("btn-mic").addEventListener("click", () => {
  if (!voice.support.ok) return showInfo(VOICE_HELP[voice.support.reason]);
  if (voice.active) voice.stop();
  else voice.start(input.value);
});
let infoOpener = null;
function showInfo({ title, message }) {
  $("info-title").textContent = title;
  $("info-message").textContent = message;
  if ($("info-modal").hidden) infoOpener = document.activeElement;
  $("info-modal").hidden = false;
  $("btn-info-ok").focus();
}
function closeInfo() {
  $("info-modal").hidden = true;
  giveFocusBack(infoOpener);
  infoOpener = null;
}
$("btn-info-ok").addEventListener("click", closeInfo);

// The app's own yes-or-no dialog (no window.confirm, which a phone shows as a browser page's alert). Focus goes to
// the dialog, not onto its button: a stray Enter must not say yes. Cancel, Escape or a new question say no.
let askOpener = null;
let askConfirm = null;
function ask({ title, message, confirm, onConfirm }) {
  if ($("ask-modal").hidden) askOpener = document.activeElement;
  askConfirm = onConfirm;
  $("ask-title").textContent = title;
  $("ask-message").textContent = message;
  $("btn-ask-ok").textContent = confirm;
  $("ask-modal").hidden = false;
  $("ask-modal").querySelector(".modal-card").focus();
}
function closeAsk(yes) {
  const onConfirm = askConfirm;
  askConfirm = null;
  $("ask-modal").hidden = true;
  giveFocusBack(askOpener);
  askOpener = null;
  if (yes) onConfirm?.();
}
$("btn-ask-ok").addEventListener("click", () => closeAsk(true));
$("btn-ask-cancel").addEventListener("click", () => closeAsk(false));

addEventListener("resize", () => {
  const o = orientationOf(innerWidth, innerHeight);
  if (o !== orientation) {
    orientation = o;
    applyLayout();
    if (!$("sheet-layout").hidden) renderLayoutSheet();
  }
});
addEventListener("pagehide", () => saveActive());

// ---------------------------------------------------------------- boot

/**
 * A pairing fragment (from the QR link): drop it from the address bar, store it, connect. True if handled. A code
 * for a desktop already paired under another code is stored only once it has connected (see connectTo).
 */
function takeFragment(hash) {
  const value = fragmentValue(hash);
  if (!value) return false;
  window.history.replaceState(null, "", location.pathname + location.search);
  try {
    const payload = parsePayload(value);
    const replaced = storage.pairingReplacedBy(ls, payload);
    connectTo(replaced ? { ...replaced, ...payload } : storage.savePairing(ls, payload));
  } catch (err) {
    disconnect();
    renderWelcome(err instanceof PairingError ? err.message : "The code could not be read.");
  }
  return true;
}

function boot() {
  applyLayout();
  reopenActive();
  loadDraft();
  if (takeFragment(window.__contopPairingFragment || location.hash)) return;
  const current = storage.currentPairing(ls);
  // A code the desktop refused is not tried again on every visit (the desktop rate-limits failed attempts).
  if (current && !current.refused) connectTo(current);
  else renderWelcome();
}

// Scanning another code while the app is open only changes the fragment of this same page.
addEventListener("hashchange", () => takeFragment(location.hash));

if ("serviceWorker" in navigator && window.isSecureContext && !window.__contopNoServiceWorker) {
  navigator.serviceWorker.register("sw.js").catch((err) => console.info("contop: no offline shell:", err.message));
}

// For tests and debugging in the browser console: read-only view of the state.
Object.defineProperty(window, "contop", { value: Object.freeze({ get state() { return store.state; } }) });

boot();
render();
