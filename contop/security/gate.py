"""The security gate: ``decide()`` judges one tool call; ``classify_command()`` one ``execute_cli`` command.

The cascade: approved by the user → known tool routing → unknown tool (block) → for commands, the built-in
rules and the user's forbidden list, restricted paths and destructive patterns, strictest first; for tools,
restricted paths, then where a writing tool writes. Pure: the only file system access is symlink resolution in
``paths`` (replaceable in tests).
"""

from __future__ import annotations

import os
import re
from typing import get_args

from contop.core.downloads import download_name
from contop.security import cmdbase, cmdshell, posix, powershell, userlists
from contop.security.catalog import CLI_TOOL, CWD_DEFAULT, KNOWN_TOOLS, PATH_ARGS, WRITE_ARGS
from contop.security.decision import Decision, GateContext, Platform, ToolCall
from contop.security.findings import BLOCK, SAFE, shorten
from contop.security.paths import Place, looks_like_path
from contop.security.state import Blocked, State

_PLATFORMS = frozenset(get_args(Platform))
_MAX_SUBSTITUTIONS = 256
_MAX_COMMAND = 32_000  # longer lines are not judged (and not run unattended)
_GLOB_START = re.compile(r"[^/\\]*[*?\[{]")  # the pattern's first folder (or file) name is a wildcard


def decide(call: ToolCall, ctx: GateContext) -> Decision:
    if ctx.force_host:
        return Decision.safe("approved by you on the phone")
    name = call.name
    if name not in KNOWN_TOOLS:
        return Decision.block(f"unknown tool {shorten(str(name), 40)!r}")
    if name == CLI_TOOL:
        command = call.args.get("command")
        if not isinstance(command, str):
            return Decision.block("execute_cli was called without a command")
        platform = call.args.get("platform", ctx.platform)
        if platform in _PLATFORMS and platform != ctx.platform:
            ctx = _with_platform(ctx, platform)
        cwd = call.args.get("cwd")
        if isinstance(cwd, str) and cwd:
            ctx = _with_cwd(ctx, cwd)
        return classify_command(command, ctx)
    if name in PATH_ARGS:
        return _path_tool(call, ctx)
    if name == "edit_skill":  # a skill's text goes into later runs' prompts: a lasting change of instructions
        skill = shorten(str(call.args.get("skill_name", "")), 40)
        return Decision.needs_confirmation(f"rewrites the skill {skill!r}, whose instructions later runs follow")
    if name == "execute_skill":  # the skill's own scripts: written by the user, or by edit_skill once approved
        skill = shorten(str(call.args.get("skill_name", "")), 40)
        return Decision.safe(f"runs the installed skill {skill!r}, whose scripts you added or approved")
    return Decision.safe(f"{name} does not touch files or run commands")


def classify_command(command: str, ctx: GateContext) -> Decision:
    """Classify one shell command for ``ctx.platform``."""
    if len(command) > _MAX_COMMAND:
        return Decision.block("command is too long to be judged")
    if "\x00" in command:  # what runs would end at it: a prefix of what is judged here
        return Decision.block("contains a NUL character (\\0), where the command that runs would be cut short")
    if not command.strip():
        return Decision.safe("empty command")
    if command.count("$(") + command.count("`") + command.count("<(") + command.count(">(") > _MAX_SUBSTITUTIONS:
        return Decision.block("has too many nested commands to be judged")
    st = State.start(ctx, command)
    inside = st.policy.restricted(st.cwd, st.cwd, st.resolve)
    if inside is not None:
        return Decision.block(f"runs inside a protected location {inside} (working directory {shorten(st.cwd, 40)})")
    blocked = _analyze(command, st)
    if blocked is not None:
        return blocked
    if st.links:
        # What runs before a link on the line may run after it too: a loop's next round, a function defined
        # before it ('f() { cat /tmp/s/.ssh/id_rsa; }; ln -s ~ /tmp/s; f'). Judged again as if every link the
        # line makes were there from the start, the stricter of both counts.
        again = State.start(ctx, command)
        again.links, again.seeded = dict(st.links), True
        blocked = _analyze(command, again)
        if blocked is not None:
            return blocked
        st.found.merge(again.found)
    try:
        userlists.apply(command, st)
    except Blocked:
        return Decision.block(st.found.reason)
    if st.found.level == SAFE:
        return Decision.safe(f"nothing dangerous found ({shorten(command, 50)})")
    return Decision.of(st.found.verdict, st.found.reason)


def _analyze(command: str, st: State) -> Decision | None:
    """Judge ``command`` into ``st.found``; the decision when that ends in a block."""
    try:
        if st.ctx.platform == "powershell":
            powershell.analyze(command, st)
        elif st.ctx.platform == "cmd":
            cmdshell.analyze(command, st)
        else:
            posix.analyze(command, st)
    except Blocked:
        return Decision.block(st.found.reason)
    except RecursionError:
        st.found.add(BLOCK, "is nested too deeply to be judged", command)
    except Exception as exc:  # a bug in a rule must fail closed, never open
        return Decision.block(f"could not be judged ({type(exc).__name__}); not run on the host unattended")
    return None


def _path_tool(call: ToolCall, ctx: GateContext) -> Decision:
    windows = ctx.windows_paths or ctx.platform != "posix"
    st = State.start(ctx, "", windows=windows)
    checked = []
    for arg in PATH_ARGS[call.name]:
        value = call.args.get(arg)
        if value is None or value == "":
            if call.name in CWD_DEFAULT and arg == "path":
                value = "."
            else:
                continue
        if not isinstance(value, str):
            return Decision.block(f"{call.name}: {arg} is not a path")
        hit = st.policy.restricted(value, st.cwd, st.resolve)
        if hit is not None:
            return Decision.block(f"{call.name} touches a protected location {hit} ({shorten(value, 60)})")
        checked.append(value)
    if not checked:  # a misnamed argument ('path' for 'file_path'): the call will be refused, but say what it names
        for arg, value in call.args.items():
            if isinstance(value, str) and arg not in PATH_ARGS[call.name] and looks_like_path(value):
                hit = st.policy.restricted(value, st.cwd, st.resolve)
                if hit is not None:
                    return Decision.block(f"{call.name} names a protected location {hit} in '{arg}'")
    if call.name == "find_files":
        pattern = call.args.get("pattern")
        # A pattern that names a protected place (`.ssh/*`) is refused; one whose first folder is a wildcard
        # (`.*`, `**/x`) may match one, which the search itself skips and counts, as for any other pattern.
        if isinstance(pattern, str) and pattern and not _GLOB_START.match(pattern):
            base = call.args.get("path") or "."
            joined = f"{base}/{pattern}" if isinstance(base, str) else pattern
            hit = st.policy.restricted(joined, st.cwd, st.resolve)
            if hit is not None:
                return Decision.block(f"find_files searches a protected location {hit}")
    if call.name in WRITE_ARGS:
        try:
            _judge_writes(call, st)
        except Blocked:
            return Decision.block(st.found.reason)
        except Exception as exc:  # a bug in a rule must fail closed, never open
            return Decision.block(f"{call.name}: where it writes could not be judged ({type(exc).__name__})")
        if st.found.level > SAFE:
            return Decision.of(st.found.verdict, st.found.reason)
    shown = ", ".join(shorten(c, 40) for c in checked)
    if shown:
        return Decision.safe(f"{call.name} on an ordinary path ({shown})")
    return Decision.safe(f"{call.name} names no path in {' or '.join(PATH_ARGS[call.name])}")


def _judge_writes(call: ToolCall, st: State) -> None:
    """Where a writing tool writes, judged as a shell redirection there is: a device or an operating system file
    is blocked, a system folder or a login or autostart file asks first. A download into a login or autostart
    file is blocked, as ``curl -o ~/.bashrc …`` is. Raises ``Blocked`` at the first block."""
    download = call.name == "download_file"
    for arg in WRITE_ARGS[call.name]:
        value = call.args.get(arg)
        if not isinstance(value, str) or not value.strip():
            continue
        for target in _destinations(call, value, st):
            inv = cmdbase.Invocation(call.name, [target], f"{call.name} {target}")
            if download and cmdbase.persistence_write(target, inv, st):
                st.add(BLOCK, "installs a downloaded file to run automatically at login or boot", inv.text)
            # A download over an existing source or configuration file asks, when the disk shows one is there.
            cmdbase.judge_write_target(target, False, inv, st, guess_existing=download and st.resolve is not None)


def _destinations(call: ToolCall, value: str, st: State) -> list[str]:
    """The files a write to ``value`` may change: the path as written and the one its symlinks lead to (a tool
    edits a link's target). A download's path may name a folder: the file named after the URL inside it, too."""
    targets = [value]
    if call.name == "download_file":
        url = call.args.get("url")
        inside = (
            value.rstrip("/\\") + ("\\" if st.windows else "/") + download_name(url if isinstance(url, str) else "")
        )
        # the home directory, its parents and the system trees can only be folders: only what lands inside counts
        targets = [inside] if st.place(value) in (Place.HOME, Place.SYSTEM_TREE) else [value, inside]
    resolve = st.resolve
    if resolve is None or st.windows != (os.name == "nt"):
        return targets
    for target in list(targets):
        path = st.policy.expand(target, st.cwd)
        try:
            real = resolve(path)
        except (OSError, ValueError):
            continue
        if real != path and real not in targets:
            targets.append(real)
    return targets


def _with_platform(ctx: GateContext, platform: Platform) -> GateContext:
    from dataclasses import replace

    return replace(ctx, platform=platform)


def _with_cwd(ctx: GateContext, cwd: str) -> GateContext:
    from dataclasses import replace

    return replace(ctx, cwd=cwd)
