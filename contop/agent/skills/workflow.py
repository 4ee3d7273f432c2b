"""YAML workflows of a skill: a list of tool steps run one by one through the guarded toolset.

```yaml
description: Convert a document to PDF
params:
  path: {description: the file to convert, required: true}
steps:
  - tool: execute_cli
    args: {command: "libreoffice --headless --convert-to pdf {{path}}"}
  - tool: wait
    args: {seconds: 1}
    continue_on_error: true
```
``{{param}}`` is replaced by the parameter's value. Inside an ``execute_cli`` command the value is quoted for where
it stands, so bash reads it as one piece of text whatever it holds: shell-quoted outside quotes, escaped inside
double quotes, spliced into single quotes; where no quoting can keep it text (backticks, ``${...}``, a comment, a
here-document) the workflow is refused, and in shell arithmetic only a whole number is accepted.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from contop.agent.skills.spec import UNENCODABLE, SkillError, load_yaml, unencodable_in
from contop.agent.skills.store import read_skill_text
from contop.security.enforce import GuardedToolset
from contop.tools.context import ToolContext

MAX_STEPS = 50
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NESTED = frozenset({"execute_skill"})  # a workflow cannot start another skill (no recursion)


@dataclass(frozen=True, slots=True)
class Step:
    tool: str
    args: dict[str, Any]
    continue_on_error: bool = False


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    description: str
    params: dict[str, dict[str, Any]]
    steps: tuple[Step, ...]


def parse_workflow(text: str, name: str) -> Workflow:
    data = load_yaml(text, f"workflow {name}")
    if not isinstance(data, dict):
        raise SkillError(f"workflow {name}: must be a YAML mapping with 'steps'", 422)
    bad = unencodable_in(data)
    if bad is not None:  # it would reach the tools and the run's history, which cannot store it
        raise SkillError(f"workflow {name}: {bad} {UNENCODABLE}", 422)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise SkillError(f"workflow {name}: 'steps' must be a non-empty list", 422)
    if len(raw_steps) > MAX_STEPS:
        raise SkillError(f"workflow {name}: more than {MAX_STEPS} steps", 422)
    steps = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict) or not isinstance(raw.get("tool"), str):
            raise SkillError(f"workflow {name} step {index + 1}: needs 'tool'", 422)
        if raw["tool"] in _NESTED:
            raise SkillError(f"workflow {name} step {index + 1}: a workflow cannot call {raw['tool']}", 422)
        args = raw.get("args") or {}
        if not isinstance(args, dict):
            raise SkillError(f"workflow {name} step {index + 1}: 'args' must be a mapping", 422)
        if raw["tool"] == "execute_cli" and isinstance(args.get("command"), str):
            try:  # a {{param}} where its value could not be kept text: refused now, not when it runs
                shell_parts(args["command"])
            except SkillError as exc:
                raise SkillError(f"workflow {name} step {index + 1}: {exc}", 422) from None
        steps.append(Step(raw["tool"], args, bool(raw.get("continue_on_error", False))))
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise SkillError(f"workflow {name}: 'params' must be a mapping", 422)
    params = {str(k): (v if isinstance(v, dict) else {"description": str(v)}) for k, v in params.items()}
    return Workflow(name, str(data.get("description", "")), params, tuple(steps))


def load_workflow(path: Path) -> Workflow:
    """The workflow in ``path``, read as every skill file is: a regular file of at most ``MAX_SCRIPT_BYTES``."""
    return parse_workflow(read_skill_text(path), path.stem)


# --- filling {{param}} into a shell command -----------------------------------------------------------------------

FrameKind = Literal["plain", "subst", "double", "single", "ansi", "backtick", "brace", "arith", "test"]
Quoting = Literal["plain", "double", "single", "ansi", "number"]
_WORD_START = frozenset(" \t\n;&|()") | {""}  # what may come before a word ("": the start of the command)
_NUMERIC_TEST = re.compile(r"-(?:eq|ne|lt|le|gt|ge|v)(?=\s)")
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


@dataclass(slots=True)
class _Frame:
    kind: FrameKind
    depth: int = 0  # parentheses (subst, arith) or braces (brace) opened inside this frame and not yet closed
    numeric: bool = False  # a [[ ... ]] that compares numbers (-eq, -v ...): its words are evaluated as arithmetic


@dataclass(slots=True)
class _Slot:
    key: str
    frames: list[_Frame] = field(default_factory=list)  # the frames open at the slot (the last is innermost)

    def quoting(self) -> Quoting:
        # bash evaluates arithmetic text as an expression in which a[$(cmd)] runs cmd, quoted or not, and the output
        # of a $(...) inside arithmetic too: in any of it only a number is safe
        if any(f.kind == "arith" or (f.kind == "test" and f.numeric) for f in self.frames):
            return "number"
        kind = self.frames[-1].kind
        if kind in ("double", "single", "ansi"):
            return kind
        return "plain"


def _refuse(key: str, where: str) -> SkillError:
    return SkillError(f"{{{{{key}}}}} stands {where}, where no quoting keeps its value plain text: move it", 422)


def shell_parts(command: str) -> list[str | _Slot]:
    """``command`` cut into literal text and ``{{param}}`` slots, each slot knowing how bash will read it.

    A small bash lexer: quotes, ``$'...'``, ``$(...)``, ``$((...))``, ``((...))``, ``[[...]]``, backticks,
    ``${...}``, comments and here-documents. ``SkillError`` (422) when a slot stands where no quoting can keep a
    value text: inside backticks (their end is found before quotes are), ``${...}``, a comment (a newline in the
    value would end it), after ``<<`` (a here-document body expands ``$(...)`` even inside quotes), right after a
    backslash or a ``$``.
    """
    parts: list[str | _Slot] = []
    stack = [_Frame("plain")]
    literal: list[str] = []
    escaped = comment = heredoc_pending = heredoc = False
    prev = ""
    i = 0
    while i < len(command):
        match = _PLACEHOLDER.match(command, i)
        if match:
            key = match.group(1)
            if heredoc:
                raise _refuse(key, "after a here-document (<<)")
            if comment:
                raise _refuse(key, "in a comment")
            if escaped:
                raise _refuse(key, "right after a backslash")
            if stack[-1].kind in ("backtick", "brace"):
                raise _refuse(key, "inside backticks" if stack[-1].kind == "backtick" else "inside ${...}")
            parts.append("".join(literal))
            literal = []
            parts.append(_Slot(key, list(stack)))
            i, prev = match.end(), "x"
            continue
        c = command[i]
        two, three = command[i : i + 2], command[i : i + 3]
        literal.append(c)
        i += 1
        top = stack[-1]
        was_escaped = escaped
        if comment:
            comment = c != "\n"
            heredoc = heredoc or (heredoc_pending and not comment)
        elif escaped:
            escaped = False
        elif top.kind == "single":
            if c == "'":
                stack.pop()
        elif top.kind in ("ansi", "backtick"):
            if c == "\\":
                escaped = True
            elif c == ("'" if top.kind == "ansi" else "`"):
                stack.pop()
        elif top.kind == "brace":
            if c == "\\":
                escaped = True
            elif c == "{":
                top.depth += 1
            elif c == "}":
                if top.depth:
                    top.depth -= 1
                else:
                    stack.pop()
        elif c == "\\":
            escaped = True
        elif c == "$" and (after := _PLACEHOLDER.match(command, i)):
            raise _refuse(after.group(1), "right after a $")
        elif three == "$((":
            stack.append(_Frame("arith"))
            literal.append("((")
            i += 2
        elif two == "$(":
            stack.append(_Frame("subst"))
            literal.append("(")
            i += 1
        elif two == "${":
            stack.append(_Frame("brace"))
            literal.append("{")
            i += 1
        elif c == "`":
            stack.append(_Frame("backtick"))
        elif top.kind == "double":
            if c == '"':
                stack.pop()
        elif c == '"':
            stack.append(_Frame("double"))
        elif c == "'":
            stack.append(_Frame("ansi" if prev == "$" else "single"))
        elif c == "#" and prev in _WORD_START and top.kind in ("plain", "subst"):
            comment = True
        elif two == "((" and prev in _WORD_START:
            stack.append(_Frame("arith"))
            literal.append("(")
            i += 1
        elif two == "[[" and prev in _WORD_START:
            stack.append(_Frame("test"))
            literal.append("[")
            i += 1
        elif top.kind == "test" and two == "]]":
            stack.pop()
            literal.append("]")
            i += 1
        elif top.kind == "test" and prev in _WORD_START and _NUMERIC_TEST.match(command, i - 1):
            top.numeric = True
        elif c == "(" and top.kind in ("subst", "arith"):
            top.depth += 1
        elif c == ")" and top.kind == "subst":
            if top.depth:
                top.depth -= 1
            else:
                stack.pop()
        elif c == ")" and top.kind == "arith":
            if top.depth:
                top.depth -= 1
            elif command[i : i + 1] == ")":
                stack.pop()
                literal.append(")")
                i += 1
        elif three == "<<<":
            literal.append("<<")
            i += 2
        elif two == "<<" and top.kind in ("plain", "subst"):  # in arithmetic, << is a shift
            heredoc_pending = True
            literal.append("<")
            i += 1
        elif c == "\n" and heredoc_pending:
            heredoc = True
        prev = "x" if was_escaped else command[i - 1]  # an escaped $ or ; is a plain character
    parts.append("".join(literal))
    return parts


def _shell_value(slot: _Slot, text: str) -> str:
    """``text`` written so that bash reads it back unchanged at ``slot``."""
    how = slot.quoting()
    if how == "number":
        if not _WHOLE_NUMBER.fullmatch(text):
            raise SkillError(
                f"workflow parameter '{slot.key}' is used in shell arithmetic, where only a whole number is safe; "
                f"got {text[:60]!r}",
                400,
            )
        return text
    if how == "double":  # inside "...", only these four are special
        return re.sub(r'([\\"$`])', r"\\\1", text)
    if how == "single":  # nothing is special inside '...' but its end: close it, quote the quote, reopen
        return text.replace("'", "'\"'\"'")
    if how == "ansi":  # inside $'...', a backslash starts an escape
        return text.replace("\\", "\\\\").replace("'", "\\'")
    return shlex.quote(text)


def fill_command(command: str, params: dict[str, Any]) -> str:
    """``command`` with each ``{{param}}`` replaced by its value, quoted for where it stands (``shell_parts``)."""
    out = []
    for part in shell_parts(command):
        if isinstance(part, str):
            out.append(part)
            continue
        if part.key not in params:
            raise SkillError(f"workflow parameter '{part.key}' was not given", 400)
        out.append(_shell_value(part, str(params[part.key])))
    return "".join(out)


def _fill(value: Any, params: dict[str, Any], quote: bool) -> Any:
    if isinstance(value, str):
        if quote:
            return fill_command(value, params)

        def sub(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in params:
                raise SkillError(f"workflow parameter '{key}' was not given", 400)
            return str(params[key])

        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole and whole.group(1) in params:
            return params[whole.group(1)]  # keep the value's type (numbers, booleans)
        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, dict):
        return {k: _fill(v, params, quote) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, params, quote) for v in value]
    return value


def bind(workflow: Workflow, params: dict[str, Any]) -> list[Step]:
    values = dict(params)
    for key, spec in workflow.params.items():
        if key not in values:
            if "default" in spec:
                values[key] = spec["default"]
            elif spec.get("required", True):
                raise SkillError(f"workflow {workflow.name} needs the parameter '{key}'", 400)
    out = []
    for step in workflow.steps:
        args = {
            k: _fill(v, values, quote=(step.tool == "execute_cli" and k == "command")) for k, v in step.args.items()
        }
        out.append(Step(step.tool, args, step.continue_on_error))
    return out


async def run_workflow(
    workflow: Workflow, params: dict[str, Any], toolset: GuardedToolset, ctx: ToolContext
) -> dict[str, Any]:
    """Run every step through ``GuardedToolset.call`` (the gate decides each one); stop at the first failure."""
    started = time.monotonic()
    steps = bind(workflow, params)
    results: list[dict[str, Any]] = []
    outputs = []
    failed = False
    for index, step in enumerate(steps, 1):
        call_id = f"wf-{uuid.uuid4().hex[:8]}-{index}"
        outcome = await toolset.call(step.tool, step.args, ctx, call_id=call_id)
        summary = outcome.message
        result = outcome.result
        if isinstance(result, dict):
            summary = str(result.get("stdout") or result.get("voice_message") or result.get("message") or summary)
            if result.get("stdout"):
                outputs.append(str(result["stdout"]))
            if outcome.status != "success" and str(result.get("stderr") or "").strip():
                # what the step said went wrong, not only "exit code 1"
                summary = f"{result.get('voice_message') or summary} {str(result['stderr']).strip()[-400:]}"
        results.append({"step": index, "tool": step.tool, "status": outcome.status, "summary": summary[:500]})
        if outcome.status != "success" and not step.continue_on_error:
            failed = True
            break
    said = f"Workflow {workflow.name} finished after {len(results)} of {len(steps)} steps."
    if failed:
        last = results[-1]
        said = f"Workflow {workflow.name} failed at step {last['step']} of {len(steps)} ({last['tool']}): "
        said += last["summary"][:300]
    return {
        "status": "error" if failed else "success",
        "workflow": workflow.name,
        "steps": results,
        "stdout": "\n".join(outputs)[-8000:],
        "exit_code": 1 if failed else 0,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "voice_message": said,
    }
