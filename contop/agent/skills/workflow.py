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
``{{param}}`` is replaced by the parameter's value; inside an ``execute_cli`` command it is shell-quoted.
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contop.agent.skills.spec import UNENCODABLE, SkillError, load_yaml, unencodable_in
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
        steps.append(Step(raw["tool"], args, bool(raw.get("continue_on_error", False))))
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise SkillError(f"workflow {name}: 'params' must be a mapping", 422)
    params = {str(k): (v if isinstance(v, dict) else {"description": str(v)}) for k, v in params.items()}
    return Workflow(name, str(data.get("description", "")), params, tuple(steps))


def load_workflow(path: Path) -> Workflow:
    return parse_workflow(path.read_text(encoding="utf-8"), path.stem)


def _fill(value: Any, params: dict[str, Any], quote: bool) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in params:
                raise SkillError(f"workflow parameter '{key}' was not given", 400)
            text = str(params[key])
            return shlex.quote(text) if quote else text

        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole and not quote and whole.group(1) in params:
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
    results = []
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
        results.append({"step": index, "tool": step.tool, "status": outcome.status, "summary": summary[:500]})
        if outcome.status != "success" and not step.continue_on_error:
            failed = True
            break
    return {
        "status": "error" if failed else "success",
        "workflow": workflow.name,
        "steps": results,
        "stdout": "\n".join(outputs)[-8000:],
        "exit_code": 1 if failed else 0,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "voice_message": f"Workflow {workflow.name} {'failed' if failed else 'finished'} "
        f"after {len(results)} of {len(steps)} steps.",
    }
