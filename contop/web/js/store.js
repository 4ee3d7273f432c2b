// The app state and the pure reducer that folds server messages and user actions into it.

import { describeRefusal, describeServerError } from "./errors.js";

export const ConnStatus = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  FAILED: "failed",
});

// How far an answer to an approval got. The data channel takes a message even when the link under it is already dead
// (the browser notices seconds later), so a sent answer is only "sending" until the desktop shows it arrived: its
// reply to a keepalive sent right behind the answer on the same ordered channel, or the approved step's result.
// "lost": the link died first, and the desktop takes a question it lost the link over as not approved.
// "refused": it arrived after the desktop had stopped waiting for it (its error reply says so).
export const Delivery = Object.freeze({ SENDING: "sending", DELIVERED: "delivered", LOST: "lost", REFUSED: "refused" });

export function initialState() {
  return {
    conn: { status: ConnStatus.IDLE, step: "", error: null, attempt: 0, path: null },
    aiState: "idle",
    running: false,
    stopping: false,
    pendingIntent: null,
    resync: false, // connected again: the desktop's next ai_state says whether a run survived the drop
    deskBusy: null, // {device}: another device's task runs on the desktop (not ours: no Stop, no answer to wait for)
    entries: [],
    confirmation: null,
    confirmQueue: [], // questions asked while another was open: each gets the dialog in turn
    alerts: [],
    notice: null,
    keepAwake: false,
    away: { known: false, active: false, overlay: false },
    models: [],
    noModel: false, // the desktop said it has no model configured (an empty models list, or a run refused for that)
    model: null,
    thinking: false,
    manual: false,
    unavailable: {},
    lastStatus: null,
    sessionId: null,
    connectionType: null,
    // Bumped whenever the link changes (lost, back, a new one): a step whose start and end arrived over different
    // links, or while the desktop was still sending what it had queued, cannot be timed by when they arrived.
    linkEpoch: 0,
    backlog: false, // connected again; the desktop's queued messages may still be arriving (until its greeting)
    seq: 0,
  };
}

function nextId(state, prefix) {
  return `${prefix}-${state.seq + 1}`;
}

function push(state, entry) {
  const id = entry.id || nextId(state, entry.kind);
  return { ...state, seq: state.seq + 1, entries: [...state.entries, { rev: 1, ...entry, id }] };
}

function replaceAt(state, index, patch) {
  const entries = state.entries.slice();
  entries[index] = { ...entries[index], ...patch, rev: (entries[index].rev || 0) + 1 };
  return { ...state, entries };
}

/** Index where the current run starts (just after the last user message). */
function runStart(entries) {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i].kind === "user") return i + 1;
  return 0;
}

/** The thinking entry that is still open at the end of the thread gets closed once other output arrives. */
function closeThinking(state) {
  const last = state.entries.length - 1;
  if (last >= 0 && state.entries[last].kind === "thinking" && !state.entries[last].done) {
    return replaceAt(state, last, { done: true });
  }
  return state;
}

function closeStreaming(state) {
  const last = state.entries.length - 1;
  if (last >= 0 && state.entries[last].kind === "text" && state.entries[last].streaming) {
    return replaceAt(state, last, { streaming: false });
  }
  return state;
}

/**
 * The run from `start` on is over: a step still shown as running did not finish, and a question still waiting
 * for the user will not be asked of them again (the run that asked is gone).
 */
function closeRunEntries(state, start) {
  return {
    ...state,
    entries: state.entries.map((e, i) => {
      if (i < start) return e;
      if (e.kind === "step" && e.status === "running") return { ...e, status: "stopped", rev: e.rev + 1 };
      if (e.kind === "confirm" && !e.decision) return { ...e, decision: "unanswered", rev: e.rev + 1 };
      return e;
    }),
  };
}

/** The run is over without an agent_result: close what is still open and stop any step shown as running. */
function endRun(state) {
  const s = closeStreaming(closeThinking(state));
  return { ...closeRunEntries(s, runStart(s.entries)), running: false, stopping: false, pendingIntent: null, ...NO_QUESTIONS };
}

// Thread notes for a run that a reconnect found over (the desktop is idle and no answer came).
const NOT_DELIVERED =
  "Your last request may not have reached the desktop: the connection dropped as it was sent. Send it again if nothing happened.";
const INTERRUPTED = "The connection dropped during this run and the desktop ended it without an answer. Ask again if needed.";

const NO_QUESTIONS = { confirmation: null, confirmQueue: [] };

// security_alert reasons that say the desk is not covered by Away Mode's lock screen (contop/server/away.py); the
// next away_mode_status with the lock screen showing ends them.
const LOCK_SCREEN_DOWN = new Set(["overlay_killed", "overlay_restart_failed"]);

/** The question on screen is answered or gone: the next one waiting, if any, gets the dialog. */
function nextConfirmation(state) {
  const [next = null, ...rest] = state.confirmQueue;
  return { ...state, confirmation: next, confirmQueue: rest };
}

/**
 * The confirmation request `requestId` was not answered in time (the desktop says so): its entry says so and its
 * dialog closes. The desktop's word beats the phone's guess that the question was lost with a link.
 */
function expireConfirmation(state, requestId) {
  const idx = state.entries.findIndex((e) => e.kind === "confirm" && e.requestId === requestId);
  const open = idx >= 0 && (!state.entries[idx].decision || state.entries[idx].lostWithLink);
  const s = open ? replaceAt(state, idx, { decision: "expired", lostWithLink: false }) : state;
  if (s.confirmation?.requestId === requestId) return nextConfirmation(s);
  return { ...s, confirmQueue: s.confirmQueue.filter((c) => c.requestId !== requestId) };
}

/**
 * A new link (not one that healed by itself): the questions of the run still open on this phone were asked over a
 * link that is gone, also those of a page that was reloaded or closed meanwhile. The desktop answered them "no"
 * when it lost that link and stopped the run (contop/transport/session.py), so their steps did not run; a
 * question it still waits for (the old connection was handed over) is asked again with its id and waits again.
 * They are "unanswered", lost with the link: not "expired", as their time had not run out.
 */
function loseOpenQuestions(state) {
  const start = runStart(state.entries);
  const lost = (e, i) => i >= start && e.kind === "confirm" && !e.decision;
  const entries = state.entries.map((e, i) => (lost(e, i) ? { ...e, decision: "unanswered", lostWithLink: true, rev: e.rev + 1 } : e));
  return { ...state, entries, ...NO_QUESTIONS };
}

/** `feature` is no longer known to be refused on this desktop (the state as it was when it was not). */
function available(state, feature) {
  if (!(feature in state.unavailable)) return state;
  const { [feature]: _, ...rest } = state.unavailable;
  return { ...state, unavailable: rest };
}

// While the link is down or coming up, what arrives was queued by the desktop (or is a late copy from a link being
// replaced): it arrives later than it happened.
const LATE_STATUSES = new Set([ConnStatus.CONNECTING, ConnStatus.RECONNECTING, ConnStatus.FAILED]);

/** Whether a message arriving now arrives as it happens (not late, from the desktop's queue after a lost link). */
function live(state) {
  return !state.backlog && !LATE_STATUSES.has(state.conn.status);
}

/** The confirm entry of the answer whose `field` (answerId, probeId, callId) is `value`, or -1. */
function answerIndex(entries, field, value) {
  if (!value) return -1;
  return entries.findIndex((e) => e.kind === "confirm" && e[field] === value && (e.decision === "approved" || e.decision === "denied"));
}

/** The answer at `idx` moves to `delivery`, if it still can (only a sent or lost answer changes, and not back). */
function settleAnswer(state, idx, delivery) {
  if (idx < 0) return state;
  const e = state.entries[idx];
  const from = delivery === Delivery.LOST ? [Delivery.SENDING] : [Delivery.SENDING, Delivery.LOST];
  return from.includes(e.delivery) ? replaceAt(state, idx, { delivery }) : state;
}

/** The link an answer went out on is gone: what no reply has shown to have arrived did not reach the desktop. */
function loseUnconfirmedAnswers(state) {
  let s = state;
  s.entries.forEach((e, i) => {
    if (e.kind === "confirm" && e.delivery === Delivery.SENDING) s = settleAnswer(s, i, Delivery.LOST);
  });
  return s;
}

function str(v) {
  return typeof v === "string" ? v : "";
}

function num(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** state_update's desk_busy: {device} while another device's task runs on the desktop, else null. */
function deskBusy(value) {
  if (!value || typeof value !== "object") return null;
  const device = typeof value.device === "string" && value.device.trim() ? value.device.trim().slice(0, 128) : "another device";
  return { device };
}

/** Models from state_update: strings or {id, label|name, provider}; anything else is ignored. */
export function normalizeModels(value) {
  if (!Array.isArray(value)) return null;
  const out = [];
  for (const m of value) {
    if (typeof m === "string" && m) out.push({ id: m, label: m });
    else if (m && typeof m === "object" && typeof m.id === "string" && m.id) {
      const model = { id: m.id, label: str(m.label) || str(m.name) || m.id, provider: str(m.provider) || undefined };
      if (m.vision === false) model.vision = false; // text only (a subscription CLI): it never sees the screen
      out.push(model);
    }
  }
  return out;
}

// How a model is named on screen: text-only models carry a NO VISION badge.
export function modelTitle(model) {
  if (!model) return "Default model";
  return model.vision === false ? `${model.label} · NO VISION` : model.label;
}

/**
 * The composer's model chip: the chosen model or, with no choice made, the desktop's own (listed first). A desktop
 * with no model at all says so instead of a default that does not exist.
 */
export function chipModelTitle(state) {
  if (state.noModel) return "No model";
  return modelTitle(state.models.find((m) => m.id === state.model) || state.models[0]);
}

/**
 * A chip's title split into the name, which may be cut to fit, and what follows it and must stay in view: a
 * trailing note in brackets ("(test model)") and the NO VISION badge.
 */
export function splitModelTitle(title) {
  const m = /^(.+?)((?: \([^()]*\))?(?: · NO VISION)?)$/.exec(title);
  return m ? [m[1], m[2]] : [title, ""];
}

// The note the desktop puts in a text it cut to fit the data channel (contop/core/oversize.py), between the kept
// beginning and end.
const CUT_NOTE = /… \[(\d+) characters cut: the message was too large for the data channel\] …/g;

function codePoints(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Each way to read `text`: whole, or (when it holds the desktop's note) as a beginning and an end kept of a text of
 * `length` characters. `kept`: how much of that text it has.
 */
function readings(text) {
  const length = codePoints(text);
  const out = [{ head: text, tail: text, length, kept: length }];
  for (const m of text.matchAll(CUT_NOTE)) {
    const head = text.slice(0, m.index);
    const tail = text.slice(m.index + m[0].length);
    const kept = codePoints(head) + codePoints(tail);
    if (kept) out.push({ head, tail, length: kept + Number(m[1]), kept }); // nothing kept: nothing to match
  }
  return out;
}

/**
 * Whether the streamed `text` and the run's `answer` are one answer, either or both possibly cut by the desktop
 * to fit the data channel: of the same length, their beginnings and their ends matching as far as each kept them.
 * The fuller of the two, or null for two different texts.
 */
function sameAnswer(text, answer) {
  const a = text.trim();
  const b = answer.trim();
  if (a === b) return answer;
  const starts = (x, y) => (x.length >= y.length ? x.startsWith(y) : y.startsWith(x));
  const ends = (x, y) => (x.length >= y.length ? x.endsWith(y) : y.endsWith(x));
  for (const x of readings(a)) {
    for (const y of readings(b)) {
      if (x.length === y.length && starts(x.head, y.head) && ends(x.tail, y.tail)) return x.kept > y.kept ? text : answer;
    }
  }
  return null;
}

/**
 * Index of the step card a tool_result `p` belongs to in the run from `start` on, or -1. The desktop numbers each
 * step (the same number as in its agent_progress): parallel calls of one tool finish in any order, so only that
 * number says which card is whose. A desktop that sends no number gets the newest card of that tool still
 * without a result.
 */
function resultStep(entries, start, p) {
  const step = num(p.step);
  for (let i = entries.length - 1; i >= start; i--) {
    const e = entries[i];
    if (e.kind !== "step") continue;
    if (step !== null ? e.step === step : e.tool === p.tool && !e.result) return i;
  }
  return -1;
}

// Agent output means the desktop accepted our intent: a later "idle" then ends the run even without a result.
const ACCEPTS_INTENT = new Set(["agent_thinking", "agent_text", "agent_progress", "tool_result", "agent_confirmation_request"]);

function onServer(state, msg, now) {
  const p = msg.payload;
  if (state.pendingIntent && ACCEPTS_INTENT.has(msg.type)) state = { ...state, pendingIntent: null };
  switch (msg.type) {
    case "agent_thinking": {
      const last = state.entries[state.entries.length - 1];
      if (last && last.kind === "thinking" && !last.done) {
        return replaceAt({ ...state, running: true }, state.entries.length - 1, { text: last.text + p.text });
      }
      return push({ ...closeStreaming(state), running: true }, { kind: "thinking", text: p.text, done: false, at: now });
    }
    case "agent_text": {
      const s = closeThinking(state);
      const last = s.entries[s.entries.length - 1];
      if (last && last.kind === "text" && last.streaming) {
        return replaceAt(s, s.entries.length - 1, { text: last.text + p.text });
      }
      return push(s, { kind: "text", text: p.text, streaming: true, at: now });
    }
    case "agent_progress": {
      let s = closeStreaming(closeThinking({ ...state, running: true }));
      const start = runStart(s.entries);
      const idx = s.entries.findIndex((e, i) => i >= start && e.kind === "step" && e.step === p.step);
      // "cancelled": the run was stopped while this step was in flight; shown like a step the run's end cut off.
      const status = p.status === "cancelled" ? "stopped" : ["running", "completed", "failed"].includes(p.status) ? p.status : "running";
      const fields = {
        step: p.step,
        tool: str(p.tool),
        detail: str(p.detail),
        status,
        model: str(p.model) || null,
        backend: str(p.backend) || null,
      };
      // What the step runs, as the desktop said while it ran: the completion detail replaces `detail`, not this.
      const action = status === "running" ? fields.detail || null : null;
      if (idx < 0) {
        const durationMs = num(p.duration_ms);
        // epoch: the link its start arrived on as it happened (null when it came late): only then is it timed here.
        const epoch = live(s) ? s.linkEpoch : null;
        return push(s, { kind: "step", ...fields, action, startedAt: now, epoch, durationMs, result: null });
      }
      const prev = s.entries[idx];
      // A step the user did not approve ends "failed" on the desktop: it was skipped, not a failure.
      if (status === "failed" && (prev.status === "skipped" || prev.result?.status === "rejected")) fields.status = "skipped";
      let durationMs = num(p.duration_ms) ?? prev.durationMs;
      // Timed by arrival only when start and end both arrived live over one link: after a lost link the end comes
      // from the desktop's queue, and its arrival counts the time the link was down. No duration beats a wrong one
      // (the step's tool_result brings the desktop's own).
      const timed = prev.startedAt && prev.epoch != null && prev.epoch === s.linkEpoch && live(s);
      if (durationMs === null && status !== "running" && timed) durationMs = now - prev.startedAt;
      s = replaceAt(s, idx, {
        ...fields,
        tool: fields.tool || prev.tool,
        detail: fields.detail || prev.detail,
        model: fields.model || prev.model,
        backend: fields.backend || prev.backend,
        action: action || prev.action || null,
        durationMs,
      });
      return s;
    }
    case "tool_result": {
      let s = closeThinking(state);
      const result = {
        status: p.status,
        stdout: str(p.stdout),
        stderr: str(p.stderr),
        exitCode: num(p.exit_code),
        // The desktop cut the output (execute_cli keeps the first 50 KB): its note says how much was dropped.
        truncated: p.result?.truncated === true,
        note: str(p.result?.note).trim(),
        durationMs: num(p.duration_ms),
      };
      // A step that ran after its approval proves the approval reached the desktop (its ack may have been lost).
      const ran = result.status !== "rejected" ? answerIndex(s.entries, "callId", str(p.ref_id)) : -1;
      if (ran >= 0 && s.entries[ran].decision === "approved") s = settleAnswer(s, ran, Delivery.DELIVERED);
      const i = resultStep(s.entries, runStart(s.entries), p);
      if (i >= 0) {
        const e = s.entries[i];
        // "rejected": not approved (denied, or the question expired), so the desktop skipped it.
        const skipped = result.status === "rejected" ? { status: "skipped" } : {};
        // The desktop's own timing first: the phone's counts when messages arrived, late after a lost link.
        const durationMs = result.durationMs > 0 ? result.durationMs : e.durationMs;
        return replaceAt(s, i, { result, durationMs, ...skipped });
      }
      return push(s, { kind: "tool_result", tool: p.tool, ...result });
    }
    case "agent_result": {
      let s = closeStreaming(closeThinking(state));
      const result = {
        kind: "result",
        answer: p.answer,
        status: str(p.status) || null, // how the run ended (completed, failed, no_model, …); none from older desktops
        steps: num(p.steps_taken) ?? 0,
        durationMs: num(p.duration_ms),
        model: str(p.model) || null,
        backend: str(p.backend) || null,
        streaming: false,
      };
      const start = runStart(s.entries);
      let lastText = -1;
      for (let i = s.entries.length - 1; i >= start; i--) {
        if (s.entries[i].kind === "text") {
          lastText = i;
          break;
        }
        if (s.entries[i].kind !== "thinking") break;
      }
      // A model failure is told once: the failed answer card quotes it, so its note earlier in the run goes.
      const answer = str(p.answer);
      const said = (e, i) => i >= start && e.kind === "status" && e.statusType === "model_error" && e.message.trim() && answer.includes(e.message.trim());
      if (result.status && result.status !== "completed" && s.entries.some(said)) {
        const before = s.entries.length;
        s = { ...s, entries: s.entries.filter((e, i) => !said(e, i)) };
        if (lastText >= start) lastText -= before - s.entries.length; // notes sit before the final text
      }
      const streamed = lastText >= 0 ? sameAnswer(s.entries[lastText].text, answer) : null;
      if (streamed) {
        s = replaceAt(s, lastText, { ...result, answer: streamed, text: undefined });
      } else {
        s = push(s, result);
      }
      s = closeRunEntries(s, start);
      return {
        ...s,
        running: false,
        stopping: false,
        pendingIntent: null,
        ...NO_QUESTIONS,
        sessionId: str(p.session_id) || s.sessionId,
        // How a run ended tells the phone too (any other status means a model ran); desktops before models: []
        // in state_update left the list out when they had none.
        noModel: str(p.status) ? p.status === "no_model" : s.noModel,
      };
    }
    case "agent_confirmation_request": {
      // The desktop says how long it waits (timeout_s); asked again after a reconnect, the question keeps its end.
      // Its entry is found by the request's id: a reload renames entries (r<n>:confirm-…), not their requestId.
      const isSame = (e) => e.kind === "confirm" && e.requestId === msg.id;
      const same = state.entries.find(isSame);
      const timeout = Number(p.timeout_s);
      const confirmation = {
        requestId: msg.id,
        tool: p.tool,
        command: str(p.command),
        reason: str(p.reason),
        voiceMessage: str(p.voice_message),
        isPlan: p.reason === "plan_approval",
        deadline: same ? same.deadline ?? null : Number.isFinite(timeout) && timeout > 0 ? now + timeout * 1000 : null,
      };
      const entry = {
        kind: "confirm",
        id: `confirm-${msg.id}`,
        requestId: msg.id,
        tool: p.tool,
        command: confirmation.command,
        reason: confirmation.reason,
        voiceMessage: confirmation.voiceMessage,
        deadline: confirmation.deadline,
        callId: str(p.call_id) || null, // the tool call it gates: its tool_result says whether it ran
        decision: null,
        lostWithLink: false, // set when a new link finds it open (loseOpenQuestions)
        // Asked again (a reconnect): an answer given before is void, the question waits again.
        delivery: null,
        answerId: null,
        probeId: null,
      };
      // Asked again with the same id (a reconnect): the question is still open, so its one entry waits again.
      let s = closeStreaming(closeThinking(state));
      const idx = s.entries.findIndex(isSame);
      if (idx >= 0) s = replaceAt(s, idx, { ...entry, id: s.entries[idx].id });
      else {
        s = push(s, entry);
        // The question gates the step that is waiting for it (shown running, same tool): it goes before that step.
        const at = s.entries.length - 2;
        const gated = s.entries[at];
        if (at >= runStart(s.entries) && gated?.kind === "step" && gated.status === "running" && gated.tool === entry.tool && !gated.result) {
          const entries = s.entries.slice();
          entries.splice(at, 0, entries.pop());
          s = { ...s, entries };
        }
      }
      // Another question is open (parallel calls each ask): this one waits its turn, or replaces itself if asked
      // again after a reconnect.
      if (s.confirmation && s.confirmation.requestId !== confirmation.requestId) {
        const queue = s.confirmQueue.filter((c) => c.requestId !== confirmation.requestId);
        return { ...s, confirmQueue: [...queue, confirmation], running: true };
      }
      return { ...s, confirmation, running: true };
    }
    case "agent_status": {
      let s = push(state, { kind: "status", statusType: p.status_type, message: str(p.message) });
      if (p.status_type === "confirmation_expired" && str(p.ref_id)) s = expireConfirmation(s, p.ref_id);
      // The desktop's screen can be captured again: its display is back, so manual control is worth trying again
      // (a new refusal says so again).
      if (p.status_type === "video_resumed") s = available(s, "manual");
      return { ...s, lastStatus: { statusType: p.status_type, message: str(p.message), at: now } };
    }
    case "security_alert": {
      // The desktop repeats an alert while its cause lasts (the lock screen tried again in 1 s, 2 s, 4 s…): one
      // banner per reason, with the newest text and how many times it came, or they would fill the screen.
      const reason = str(p.reason);
      const message = str(p.message) || "Security event on the desktop.";
      const prev = state.alerts.find((a) => a.reason === reason);
      const count = prev ? prev.count + (prev.id === msg.id ? 0 : 1) : 1;
      const s = push(state, { kind: "alert", reason, message });
      const others = state.alerts.filter((a) => a.id !== msg.id && a.reason !== reason);
      return { ...s, alerts: [...others, { id: msg.id, reason, message, count }] };
    }
    case "error": {
      // Refused because another device's task holds the desk: the desktop's sentence names that device, and this
      // phone has no Stop for it, so the generic "stop it first" would mislead.
      const othersRun = p.code === "busy" && state.deskBusy !== null;
      const text = othersRun ? describeRefusal(p) : describeServerError(p);
      // An intent the desktop refused as busy never started a run: its bubble goes (the desktop's answer says it
      // was not sent), so the other run's steps and answer do not land under it.
      const refused = p.code === "busy" && str(p.ref_id) ? state.entries.findIndex((e) => e.id === `user-${p.ref_id}`) : -1;
      if (refused >= 0) state = { ...state, entries: state.entries.filter((_, i) => i !== refused) };
      let s = push(state, { kind: "error", code: p.code, text, refId: str(p.ref_id) || null });
      // The reply to our answer to an approval: the desktop no longer waited for it (it did not count).
      s = settleAnswer(s, answerIndex(s.entries, "answerId", str(p.ref_id)), Delivery.REFUSED);
      if (p.ref_id && p.ref_id === state.pendingIntent) {
        // Our intent was refused: the run we thought started did not; if busy, our earlier run still is (another
        // device's run is not ours to show as running).
        s = { ...s, pendingIntent: null, running: p.code === "busy" && !othersRun ? s.running : false };
      }
      return s;
    }
    case "state_update": {
      let s = { ...state };
      if (typeof p.ai_state === "string") {
        s.aiState = p.ai_state;
        s.resync = false;
        s.backlog = false; // the desktop's greeting comes after what it had queued
        if (p.ai_state === "processing" || p.ai_state === "executing") {
          s.running = true;
          s.pendingIntent = null;
        }
        if (p.ai_state === "idle" && state.resync && state.running) {
          // The first word of the desktop after a reconnect: nothing runs there, and no answer came.
          const note = state.pendingIntent
            ? { kind: "error", code: "not_delivered", text: NOT_DELIVERED, refId: state.pendingIntent }
            : { kind: "error", code: "interrupted", text: INTERRUPTED };
          s = push(endRun(s), note);
        } else if (p.ai_state === "idle" && (state.stopping || (!state.pendingIntent && state.running))) {
          // A run that ended without a result, or the desktop's answer to Stop (also when nothing ran).
          s = endRun(s);
        }
      }
      if ("desk_busy" in p) s.deskBusy = deskBusy(p.desk_busy);
      if (typeof p.keep_host_awake === "boolean") s.keepAwake = p.keep_host_awake;
      if (p.connection_type === "temp" || p.connection_type === "permanent") s.connectionType = p.connection_type;
      const models = normalizeModels(p.models);
      if (models) {
        s.models = models;
        s.noModel = models.length === 0;
        if (s.model && !models.some((m) => m.id === s.model)) s.model = null;
      }
      return s;
    }
    case "away_mode_status": {
      const away = { known: true, active: p.away_mode, overlay: p.overlay_active === true };
      const { away: refused, manual: manualRefused, ...rest } = state.unavailable;
      const unavailable = { ...rest };
      // A refusal to engage stands while Away Mode is off; engaged after all (a PIN was set since), it no longer
      // applies.
      if (refused && !away.active) unavailable.away = refused;
      // What manual control was refused while the lock held the desk is told again once the desk is unlocked.
      if (manualRefused && away.active && away.overlay) unavailable.manual = manualRefused;
      // The lock screen is up again (or Away Mode is off, so none is wanted): an alert that it is down is over.
      const covered = away.overlay || !away.active;
      const alerts = covered ? state.alerts.filter((a) => !LOCK_SCREEN_DOWN.has(a.reason)) : state.alerts;
      return { ...state, away, unavailable, alerts };
    }
    case "device_control_result": {
      const ok = p.status === "success" || p.status === "ok";
      const label = p.action.replace(/_/g, " ");
      // The desktop's own sentence when it sends one ("keep host awake is on", or why it is not in effect).
      const said = typeof p.message === "string" && p.message.trim() ? p.message.trim().slice(0, 300) : null;
      return {
        ...state,
        // The desktop's word on keep-awake after the change (or after a refusal): the switch shows that.
        keepAwake: typeof p.keep_host_awake === "boolean" ? p.keep_host_awake : state.keepAwake,
        seq: state.seq + 1,
        notice: {
          id: state.seq + 1,
          tone: ok ? "ok" : "warn",
          text: `Desktop: ${said || (ok ? `${label} done` : `${label} failed`)}`,
        },
      };
    }
    case "keepalive":
      // The desktop's reply to the keepalive sent behind an answer: the answer got there first (one ordered channel).
      return settleAnswer(state, answerIndex(state.entries, "probeId", str(p.ref_id)), Delivery.DELIVERED);
    default:
      return state; // anything without a visible effect
  }
}

export function reduce(state, action) {
  const now = action.now ?? Date.now();
  switch (action.type) {
    case "server":
      return onServer(state, action.msg, now);
    case "user_intent": {
      // One run at a time: while one is on (or being stopped) a second request is not sent, and adds nothing.
      if (state.running) return state;
      const s = push(closeStreaming(closeThinking(state)), { kind: "user", id: `user-${action.id}`, text: action.text, at: now });
      // An intent sent after a reconnect: the desktop's greeting, if still to come, predates it.
      return { ...s, running: true, stopping: false, pendingIntent: action.id, resync: false };
    }
    case "stop_requested":
      return { ...state, stopping: true };
    case "confirmation_answered": {
      if (!state.confirmation) return state; // expired (or answered) meanwhile: a late tap changes nothing
      const idx = state.entries.findIndex((e) => e.kind === "confirm" && e.requestId === state.confirmation.requestId);
      // answerId: the id the answer went out with; probeId: the keepalive sent behind it, whose reply says it arrived.
      // Without an id (nothing says how it went) it is shown as given.
      const sent = action.answerId ? { delivery: Delivery.SENDING, answerId: action.answerId, probeId: action.probeId || null } : {};
      const s =
        idx >= 0 && state.entries[idx].decision !== "expired"
          ? replaceAt(state, idx, { decision: action.approved ? "approved" : "denied", ...sent })
          : state;
      return nextConfirmation(s);
    }
    case "new_session":
      // The running task's thread stays on screen (Stop, its steps and its answer belong to it) until it ends.
      if (state.running) return state;
      return {
        ...state,
        entries: [],
        running: false,
        stopping: false,
        pendingIntent: null,
        ...NO_QUESTIONS,
        sessionId: null,
      };
    case "restore": {
      if (state.running) return state; // as for new_session: a running task keeps its thread
      // Stored ids came from another page load: prefix them so they never collide with ids made from now on (a
      // prefix from an earlier restore is replaced, not stacked). A thread continued over several page loads can
      // hold one id twice once unprefixed: the later one gets its place added, or it would never be drawn.
      const seen = new Set();
      const entries = action.entries.map((e, i) => {
        let id = `r${state.seq}:${String(e.id).replace(/^r\d+:/, "")}`;
        if (seen.has(id)) id = `${id}@${i}`;
        seen.add(id);
        // A step's start time is from another page load (and link): no duration is taken from it. An answer that
        // was on its way then will get no reply in this one.
        const restored = { ...e, id, rev: 1 };
        if (e.kind === "step") restored.epoch = null;
        if (e.kind === "confirm" && e.delivery === Delivery.SENDING) restored.delivery = Delivery.LOST;
        return restored;
      });
      // running: a reload in the middle of a run. The desktop's next word (its greeting after the reconnect, the
      // run's result) says how it went on; until then the run shows as still on.
      return {
        ...state,
        seq: state.seq + 1,
        entries,
        sessionId: action.sessionId || null,
        running: action.running === true,
        stopping: false,
        pendingIntent: null,
        ...NO_QUESTIONS,
      };
    }
    case "conn": {
      const conn = { ...state.conn, ...action.conn };
      let s = { ...state, conn };
      if (conn.status !== state.conn.status) {
        s.linkEpoch = state.linkEpoch + 1;
        // Over a new link the desktop first sends what it queued while the link was down; its greeting ends that.
        s.backlog = conn.status === ConnStatus.CONNECTED && !action.healed;
        // The phone knows the link is down (or replaced): an answer no reply has confirmed did not get through. A
        // link that comes back by itself still carries it, and the reply then says so.
        if (conn.status !== ConnStatus.CONNECTED || !action.healed) s = loseUnconfirmedAnswers(s);
      }
      if (conn.status === ConnStatus.CONNECTED && state.conn.status !== ConnStatus.CONNECTED) {
        // (Re)connected: what the desktop refused before is asked again and, over a new connection, the
        // desktop's next ai_state is authoritative (a link that healed by itself lost nothing). Manual mode and
        // a pending confirmation were kept (hidden) while the link was down.
        s.unavailable = {};
        s.resync = !action.healed;
        // Over a new connection the desktop asks again what it still waits for (same id: the entry returns to
        // "waiting"); a question it stopped waiting for when the link died must not stay answerable here.
        if (!action.healed) s = loseOpenQuestions(s);
      }
      if (conn.status === ConnStatus.IDLE) {
        // Disconnected on purpose: the desktop ends this phone's session.
        s.manual = false;
        s.deskBusy = null; // told again by the desktop's greeting on the next connection
        s = { ...s, ...NO_QUESTIONS };
      }
      return s;
    }
    case "manual":
      return { ...state, manual: action.enabled };
    case "set_model":
      return { ...state, model: action.model || null };
    case "set_thinking":
      return { ...state, thinking: !!action.on };
    case "unavailable":
      // true, or the desktop's reason (shown in settings)
      return { ...state, unavailable: { ...state.unavailable, [action.feature]: action.reason || true } };
    case "available":
      // A feature refused before worked after all (an action of it was not refused).
      return available(state, action.feature);
    case "dismiss_alert":
      return { ...state, alerts: state.alerts.filter((a) => a.id !== action.id) };
    case "notice":
      return { ...state, seq: state.seq + 1, notice: { id: state.seq + 1, tone: action.tone || "info", text: action.text } };
    case "local_error":
      return push(state, { kind: "error", code: "local", text: action.text });
    default:
      return state;
  }
}

/** A minimal observable store around the reducer. */
export function createStore(state = initialState()) {
  const listeners = new Set();
  return {
    get state() {
      return state;
    },
    dispatch(action) {
      const prev = state;
      state = reduce(state, action);
      if (state !== prev) for (const fn of listeners) fn(state, prev, action);
      return state;
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
