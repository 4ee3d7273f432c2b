// The execution thread: one element per entry, re-rendered only when that entry's revision changes.

import { h, icon, formatDuration, visibleCommand as shown } from "./dom.js";
import { statusTitle } from "../errors.js";
import { renderMarkdown } from "../markdown.js";

/**
 * The agent's Markdown as safe DOM (see markdown.js: no HTML, http(s) links only). Should the renderer fail on
 * some text, that text is shown as it is, in a paragraph: a message is never lost to its formatting.
 */
function md(text) {
  try {
    return renderMarkdown(text || "", h);
  } catch (err) {
    console.error("contop: could not render Markdown", err);
    return [h("p", { class: "md-plain" }, String(text ?? ""))];
  }
}

/** How often, at most, a streaming answer is redrawn: its text arrives a few characters at a time. */
export const STREAM_REDRAW_MS = 100;


/** Model names can carry a file path (the scripted test model); the file name says enough. */
export function shortModel(name) {
  return name ? name.replace(/\/(?:[^\s/]+\/)+(?=[^\s/])/g, "") : name;
}

function meta(parts) {
  const items = parts.filter(Boolean).map((p) => h("span", {}, p));
  return items.length ? h("div", { class: "st-meta" }, items) : null;
}

function stepIcon(status) {
  if (status === "running") return h("div", { class: "st-icon" }, h("div", { class: "mini-spin" }));
  if (status === "completed") return h("div", { class: "st-icon" }, icon("check"));
  if (status === "failed") return h("div", { class: "st-icon" }, icon("x"));
  if (status === "skipped") return h("div", { class: "st-icon" }, icon("skip"));
  return h("div", { class: "st-icon" }, icon("stop"));
}

/** The words beside "Output": how the tool ended, a non-zero exit code, and how many lines it printed. */
export function outputSummary(result) {
  // A final newline ends the last line; it does not start another ("a\nb\n" is 2 lines).
  const count = (t) => (t && t.trim() ? t.replace(/\r?\n$/, "").split("\n").length : 0);
  const lines = count(result.stdout) + count(result.stderr);
  // A cut output's line count is what arrived, not what the command printed: said as such.
  const shown = result.truncated
    ? `first ${lines.toLocaleString("en-US")} line${lines === 1 ? "" : "s"} shown — output cut`
    : lines > 1
      ? `${lines} lines`
      : "";
  return [result.status, result.exitCode ? `exit code ${result.exitCode}` : "", shown]
    .filter(Boolean)
    .join(" · ");
}

/** What the desktop noted about the output, at its end: a cut says so, so a partial output is not read as all. */
export function outputNote(result) {
  if (result.truncated) return `Output cut: ${result.note || "the desktop kept only part of it."}`;
  return result.note || "";
}

function output(result, openByDefault) {
  const note = outputNote(result);
  const stdout = result.stdout && result.stdout.trim() ? result.stdout : "";
  const stderr = result.stderr && result.stderr.trim() ? result.stderr : "";
  const details = h(
    "details",
    { class: "st-out" },
    h("summary", {}, icon("chevron"), "Output", h("span", { class: "out-status" }, outputSummary(result))),
    stdout || !stderr ? h("pre", { tabindex: "0" }, stdout || "(no output)") : null,
    // A failing command says why on stderr: shown apart, so it is not taken for the command's output.
    stderr ? h("div", { class: "out-label" }, "stderr") : null,
    stderr ? h("pre", { class: "stderr", tabindex: "0" }, stderr) : null,
    note ? h("p", { class: `out-note${result.truncated ? " cut" : ""}` }, note) : null,
  );
  if (openByDefault) details.open = true;
  return details;
}

// "unanswered": the run that asked ended (stopped, failed, timed out) while the question still waited.
const DECISION_WORD = { approved: "Approved", denied: "Denied", expired: "Expired — not approved", unanswered: "Not answered" };

/**
 * What an approval card says of its answer: {word, tone, note}. An answer is told as given only once the desktop
 * has shown it arrived (`delivery`, see store.js): until then it is on its way, and one that never got there (the
 * link died first) or came too late must not read as approved, since the desktop took the step as not approved.
 * An entry without `delivery` (an older thread) is told as it was given.
 */
export function answerText(e) {
  const answered = e.decision === "approved" || e.decision === "denied";
  if (answered && e.delivery === "sending") {
    return { word: e.decision === "approved" ? "Sending your approval…" : "Sending your denial…", tone: "pending", note: "" };
  }
  if (answered && e.delivery === "lost") {
    return {
      word: "Not delivered — not approved",
      tone: "undelivered",
      note:
        `The connection was lost before the desktop confirmed your ${e.decision === "approved" ? "approval" : "answer"}, ` +
        "so it did not count: the desktop takes the step as not approved.",
    };
  }
  if (answered && e.delivery === "refused") {
    return {
      word: "Too late — not approved",
      tone: "undelivered",
      note: "The desktop had stopped waiting for this answer when it arrived, so the step was not approved.",
    };
  }
  if (e.decision === "unanswered" && e.lostWithLink) {
    return {
      word: "Not answered — the link dropped; not run",
      tone: "unanswered",
      note: "The connection dropped while this waited for your answer: the desktop took it as not approved, so the step did not run.",
    };
  }
  return { word: DECISION_WORD[e.decision] || "Waiting for you", tone: e.decision || "pending", note: "" };
}

const STATUS_WORD = { running: "Running", completed: "Done", failed: "Failed", stopped: "Stopped", skipped: "Skipped · not approved" };

// How an answer card is headed, by agent_result's status: only a completed run is a green "Done"; the answer of
// any other run (an error, no model configured) says what happened and must not read as a success.
const RESULT_LOOK = Object.freeze({
  completed: { title: "Done", tone: "ok", icon: "check" },
  failed: { title: "Failed", tone: "error", icon: "x" },
  cancelled: { title: "Stopped", tone: "muted", icon: "stop" },
  timeout: { title: "Timed out", tone: "warn", icon: "warn" },
  limit: { title: "Stopped at the step limit", tone: "warn", icon: "warn" },
  no_model: { title: "No model configured", tone: "warn", icon: "warn" },
});

/** The heading of an answer card; no status (an older desktop) is a completed run, an unknown one is not. */
export function resultLook(status) {
  if (!status) return RESULT_LOOK.completed;
  return RESULT_LOOK[status] || { title: "Ended", tone: "muted", icon: "info" };
}

/** The footer of an answer card: what was measured (a run that never started has no steps and 0 ms). */
export function resultFooter(e) {
  return [
    e.steps ? `${e.steps} step${e.steps === 1 ? "" : "s"}` : "",
    e.durationMs > 0 ? formatDuration(e.durationMs) : "",
    shortModel(e.model),
  ].filter(Boolean);
}

/**
 * A step card's text: what the step runs (`what`, the detail the desktop sent while it ran, kept once it is over)
 * and, once it is over, what came of it (`said`: the desktop's completion detail). A finished or stopped step
 * names what it ran without "Running: ".
 */
export function stepText(e) {
  if (e.status === "running") return { what: e.detail, said: "" };
  const ran = e.action || e.detail || "";
  const what = ran.replace(/^Running: /, "");
  // The desktop's own words when it closed the step (the time ran out; it waited for approval, so it never ran).
  if (e.status === "stopped") return { what, said: e.action && e.detail && e.detail !== e.action ? e.detail : "Stopped before it finished." };
  if (e.status === "skipped") return { what, said: e.detail && e.detail !== e.action ? e.detail : "Not approved, so it was skipped." };
  return { what, said: e.action && e.detail !== e.action ? e.detail : "" };
}

// What the desktop says about a command or a tool (a step's detail, an approval's message, a status, an error) is
// drawn through `shown`: a bidi override or a control character in it is shown as an escape, as on the approval
// card, so a command cannot read as another. The agent's answers and the user's own words are drawn as written.

function renderStep(e, prevEl) {
  const { what, said } = stepText(e);
  const wasOpen = prevEl?.querySelector("details.st-out")?.open;
  return h(
    "div",
    { class: `step ${e.status}`, "data-kind": "step", "data-status": e.status },
    stepIcon(e.status),
    h(
      "div",
      { class: "st-head" },
      h("span", { class: "tool-chip", title: e.tool ? shown(e.tool) : null }, e.tool ? shown(e.tool) : "step"),
      h("span", { class: "st-step" }, `${STATUS_WORD[e.status] || e.status}${e.step ? ` · step ${e.step}` : ""}`),
    ),
    what ? h("div", { class: "st-detail" }, shown(what)) : null,
    said ? h("div", { class: "st-said" }, shown(said)) : null,
    // A skipped step's time is how long the question waited, not a run time.
    meta([shortModel(e.model), e.backend, e.status === "skipped" ? "" : formatDuration(e.durationMs)]),
    e.result ? output(e.result, wasOpen) : null,
  );
}

/** An entry's element; should building it fail, a plain one with its text, so one entry cannot stop the thread. */
function entryElement(e, prevEl) {
  try {
    return renderEntry(e, prevEl);
  } catch (err) {
    console.error("contop: could not render a thread entry", err);
    try {
      const text = [e.text, e.answer, e.message, e.command, e.detail].find((t) => typeof t === "string") || "";
      return h("div", { class: "msg-agent", "data-kind": e.kind }, h("p", { class: "md-plain" }, shown(text)));
    } catch {
      return h("div", { "data-kind": "unrenderable" });
    }
  }
}

function renderEntry(e, prevEl) {
  switch (e.kind) {
    case "user":
      return h("div", { class: `msg-user${e.restored ? " restored" : ""}`, "data-kind": "user" }, e.text);
    case "text":
      return h("div", { class: `msg-agent md${e.streaming ? " streaming" : ""}${e.restored ? " restored" : ""}`, "data-kind": "text" }, md(e.text));
    case "thinking":
      if (!e.done) {
        return h(
          "div",
          { class: "thinking", "data-kind": "thinking" },
          h("span", { class: "think-label" }, "Thinking"),
          e.text ? h("span", { class: "think-text" }, e.text.trim().split("\n").slice(-2).join(" ")) : null,
        );
      }
      return h(
        "details",
        { class: "thought", "data-kind": "thought" },
        h("summary", {}, icon("sparkle"), "Thought process"),
        h("p", {}, e.text),
      );
    case "step":
      return renderStep(e, prevEl);
    case "tool_result":
      return h(
        "div",
        { class: `step ${e.status === "success" ? "completed" : e.status === "error" ? "failed" : "completed"}`, "data-kind": "tool_result" },
        stepIcon(e.status === "error" || e.status === "failed" ? "failed" : "completed"),
        h("div", { class: "st-head" }, h("span", { class: "tool-chip" }, shown(e.tool ?? "")), h("span", { class: "st-step" }, "Result")),
        meta([formatDuration(e.durationMs)]),
        output(e, prevEl?.querySelector("details")?.open),
      );
    case "result": {
      const look = resultLook(e.status);
      return h(
        "div",
        { class: `result ${look.tone}${e.restored ? " restored" : ""}`, "data-kind": "result", "data-status": e.status || "completed" },
        // Reopened later, an answer still says how its run ended (a failure must not read as an answer).
        h("div", { class: "res-head" }, icon(look.icon), look.title),
        h("div", { class: "res-answer md" }, md(e.answer)),
        e.restored ? null : meta(resultFooter(e)),
      );
    }
    case "status":
      return h(
        "div",
        { class: "note warn", "data-kind": "status" },
        icon("info"),
        h("div", { class: "note-body" }, h("b", {}, statusTitle(e.statusType)), shown(e.message ?? "")),
      );
    case "error":
      return h("div", { class: "note error", "data-kind": "error", "data-code": e.code }, icon("warn"), h("div", { class: "note-body" }, shown(e.text ?? "")));
    case "alert":
      return h(
        "div",
        { class: "note alert", "data-kind": "alert" },
        icon("shield"),
        h("div", { class: "note-body" }, h("b", {}, "Security alert"), shown(e.message ?? "")),
      );
    case "confirm": {
      const { word, tone, note } = answerText(e);
      return h(
        "div",
        { class: "note confirm", "data-kind": "confirm" },
        icon(e.reason === "plan_approval" ? "sparkle" : "lock"),
        h(
          "div",
          { class: "note-body" },
          h("b", {}, e.reason === "plan_approval" ? "Plan approval" : `Approval for ${shown(e.tool ?? "")}`),
          shown(e.voiceMessage || e.command || ""),
          // A plan stays readable after the answer: what was approved (or not) is the plan itself, escaped as the
          // card showed it.
          e.reason === "plan_approval" && e.command && e.voiceMessage && e.command.trim() !== e.voiceMessage.trim()
            ? h("div", { class: "confirm-plan md" }, md(shown(e.command)))
            : null,
          note ? h("div", { class: "confirm-note" }, note) : null,
        ),
        h("span", { class: `decision ${tone}` }, word),
      );
    }
    default:
      return h("div", {});
  }
}

export function createThreadView(container, emptyEl, jumpBtn) {
  const rendered = new Map(); // id → {el, rev}
  let stick = true;

  container.addEventListener("scroll", () => {
    const gap = container.scrollHeight - container.scrollTop - container.clientHeight;
    stick = gap < 60;
    jumpBtn.hidden = stick;
  });
  jumpBtn.addEventListener("click", () => scrollToEnd(true));

  function scrollToEnd(smooth = false) {
    container.scrollTo({ top: container.scrollHeight, behavior: smooth ? "smooth" : "instant" });
    stick = true;
    jumpBtn.hidden = true;
  }

  // Shown while a run is on but nothing is visibly happening (before the first event, between steps).
  const working = h("div", { class: "thinking pending", "data-kind": "working" }, h("span", { class: "think-label" }, "Working"));

  // A streaming answer is redrawn at most every STREAM_REDRAW_MS: each redraw parses the whole text so far, and
  // redrawing on every few characters would make a long answer's cost grow with the square of its length.
  let redraw = null; // the timer of a deferred redraw
  let latest = null; // the arguments of the latest render, which the deferred redraw repeats

  function redrawLater(ms) {
    if (redraw) return;
    redraw = setTimeout(() => {
      redraw = null;
      render(...latest);
    }, Math.max(0, ms));
  }

  function render(entries, options = {}) {
    latest = [entries, options];
    const { busy = false } = options;
    emptyEl.hidden = entries.length > 0;
    const ids = new Set(entries.map((e) => e.id));
    for (const [id, r] of rendered) {
      if (!ids.has(id)) {
        r.el.remove();
        rendered.delete(id);
      }
    }
    let changed = false;
    let prev = emptyEl;
    for (const e of entries) {
      const r = rendered.get(e.id);
      const streaming = e.kind === "text" && !!e.streaming;
      const wait = r && r.rev !== e.rev && streaming && r.streaming ? r.at + STREAM_REDRAW_MS - Date.now() : 0;
      if (wait > 0 && wait <= STREAM_REDRAW_MS) {
        // Text that is still arriving: shown as it was a moment ago, and brought up to date shortly.
        redrawLater(wait);
        prev = r.el;
      } else if (!r || r.rev !== e.rev) {
        const el = entryElement(e, r?.el);
        el.dataset.id = e.id;
        if (r) r.el.replaceWith(el);
        else prev.after(el);
        // Timed from the end of the drawing, so a slow one is followed by a pause, not by the next one at once.
        rendered.set(e.id, { el, rev: e.rev, streaming, at: Date.now() });
        changed = true;
        prev = el;
      } else {
        prev = r.el;
      }
    }
    const last = entries[entries.length - 1];
    const active = last && ((last.kind === "thinking" && !last.done) || (last.kind === "step" && last.status === "running") || (last.kind === "confirm" && !last.decision) || (last.kind === "text" && last.streaming));
    const showWorking = busy && !active;
    if (showWorking && (working.parentNode !== container || container.lastElementChild !== working)) {
      container.append(working);
      changed = true;
    } else if (!showWorking && working.parentNode) {
      working.remove();
    }
    if (changed && stick) requestAnimationFrame(() => scrollToEnd(false));
  }

  return { render, scrollToEnd };
}

