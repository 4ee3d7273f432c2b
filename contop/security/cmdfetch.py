"""Command rules for package tools that download code and run it: ``npx``, ``npm exec``, ``pnpm dlx``, ``bunx``,
``uvx``, ``pipx run``, ``go run mod@version``, ``deno run URL``, and installs from an address rather than a
registry (``pip install git+https://…``), whose build or install scripts run at once. ``commands`` dispatches to
them next to the other rules of the same programs.

A package fetched from a registry by name asks: nobody here has read its code. Code fetched from any address
(a URL, a git repository) is blocked, as ``curl … | sh`` is: the same unreviewed code, from wherever the line says.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re

from contop.security.cmdbase import Invocation, Rule
from contop.security.findings import BLOCK, CONFIRM
from contop.security.state import State

FROM_AN_ADDRESS = "runs code downloaded from the network"  # the words of 'curl … | sh'
_FROM_A_REGISTRY = "downloads a package and runs its code ({}), which nobody here has reviewed"
# 'https://…', 'git+https://…', 'name @ https://…' (pip), 'github:user/repo' (npm), 'git@host:repo'; not 'file:'.
_ADDRESS = re.compile(
    r"^(?:[\w.\[\],-]+\s*@\s*)?(?:(?:git|hg|svn|bzr)\+)?(?!file:)[a-z][a-z0-9+.-]*://|"
    r"^(?:github|gitlab|bitbucket|gist):|^git@[\w.-]+:",
    re.IGNORECASE,
)


def _from_address(spec: str) -> bool:
    return _ADDRESS.match(spec.strip()) is not None


def _judge_spec(spec: str, runs: bool, what: str, inv: Invocation, st: State) -> None:
    """One package given to a tool: blocked when it comes from an address; asked about when the tool runs it."""
    if _from_address(spec):
        st.add(BLOCK, FROM_AN_ADDRESS, inv.text)
    elif runs:
        st.add(CONFIRM, _FROM_A_REGISTRY.format(what), inv.text)


def _operands(args: list[str], valued: frozenset[str]) -> list[tuple[str, str]]:
    """Each word with the option it is the value of ('' for an operand), up to the end of options: ``-x V``,
    ``--long=V`` and ``--long V`` for the options in ``valued``."""
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            found.extend(("", a) for a in args[i + 1 :])
            break
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            found.append((name, value))
        elif arg in valued:
            found.append((arg, args[i + 1] if i + 1 < len(args) else ""))
            i += 1
        elif not arg.startswith("-") or arg == "-":
            found.append(("", arg))
        i += 1
    return found


def _verb(words: list[tuple[str, str]], verbs: frozenset[str]) -> int:
    """Where the subcommand is among the operands (an option's value can come first: ``npm --prefix d exec x``);
    -1 when none of ``verbs`` is."""
    return next((k for k, (option, word) in enumerate(words) if not option and word in verbs), -1)


# ------------------------------------------------------------------------------------------- python

_PIP_VALUED = frozenset({"-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
                         "-f", "--find-links", "-t", "--target", "--prefix", "--root", "--src", "--upgrade-strategy",
                         "--platform", "--python-version", "--implementation", "--abi", "--no-binary",
                         "--only-binary", "--progress-bar", "--report", "-C", "--config-settings", "--global-option",
                         "--log", "--cache-dir", "--trusted-host", "--proxy", "--timeout", "--retries",
                         "--exists-action", "--cert", "--client-cert", "--python", "--root-user-action", "-e",
                         "--editable", "--index", "--default-index", "--with", "--from", "--spec", "-p",
                         "--group", "--extra", "--with-requirements", "--directory", "--project",
                         "--script", "--package"})  # fmt: skip
_SPEC_OPTIONS = frozenset({"-e", "--editable", "--with", "--from", "--spec"})  # their value is a package too


def _installs(words: list[tuple[str, str]], start: int, inv: Invocation, st: State) -> None:
    """The packages an install names after its subcommand: one from an address runs its build at once."""
    for option, word in words[start + 1 :]:
        if not option or option in _SPEC_OPTIONS:
            _judge_spec(word, False, "", inv, st)


def _pip(inv: Invocation, st: State) -> None:
    words = _operands(inv.args, _PIP_VALUED)
    at = _verb(words, frozenset({"install", "download", "wheel"}))
    if at >= 0:
        _installs(words, at, inv, st)  # an sdist is built (its setup.py runs) to download it, too


def _uv(inv: Invocation, st: State) -> None:
    """``uv pip install URL``, ``uv add URL``, ``uv tool install URL`` build what they fetch; ``uv tool run X``
    and ``uvx X`` run a package; ``uv run https://…/x.py`` runs a script from the network."""
    words = _operands(inv.args, _PIP_VALUED)
    at = _verb(words, frozenset({"pip", "add", "tool", "run", "sync", "lock", "venv", "init", "python", "remove"}))
    if at < 0:
        return
    verb = words[at][1]
    rest = words[at + 1 :]
    following = next((w for o, w in rest if not o), "")
    if verb == "pip" and following in ("install", "sync"):
        _installs(rest, next(k for k, (o, w) in enumerate(rest) if not o), inv, st)
    elif verb == "add":
        _installs(words, at, inv, st)
    elif verb == "tool" and following in ("install", "upgrade"):
        _installs(rest, next(k for k, (o, w) in enumerate(rest) if not o), inv, st)
    elif verb == "tool" and following == "run":
        _run_package(rest[next(k for k, (o, w) in enumerate(rest) if not o) + 1 :], "uv tool run", inv, st)
    elif verb == "run":
        if following and _from_address(following):
            st.add(BLOCK, FROM_AN_ADDRESS, inv.text)
        for option, word in rest:
            if option == "--with":
                _judge_spec(word, False, "", inv, st)


def _uvx(inv: Invocation, st: State) -> None:
    _run_package(_operands(inv.args, _PIP_VALUED), inv.name, inv, st)


def _run_package(words: list[tuple[str, str]], what: str, inv: Invocation, st: State) -> None:
    """A runner given ``[--from SPEC] [--with SPEC] TOOL args``: the tool's package (or the one --from names)
    is downloaded and run."""
    tool = next((w for o, w in words if not o), "")
    specs = [w for o, w in words if o in ("--from", "--spec")]
    for option, word in words:
        if option == "--with":
            _judge_spec(word, False, "", inv, st)
    for spec in specs or ([tool] if tool else []):
        _judge_spec(spec, True, what, inv, st)


def _pipx(inv: Invocation, st: State) -> None:
    words = _operands(inv.args, _PIP_VALUED)
    at = _verb(words, frozenset({"run", "install", "inject", "upgrade", "reinstall", "list", "ensurepath"}))
    if at < 0:
        return
    verb = words[at][1]
    if verb == "run":
        _run_package(words[at + 1 :], "pipx run", inv, st)
    elif verb in ("install", "inject"):
        _installs(words, at, inv, st)


# ------------------------------------------------------------------------------------------- javascript

_NPX_VALUED = frozenset({"-p", "--package", "-c", "--call", "--cache", "--registry", "--userconfig", "--prefix",
                         "-w", "--workspace", "--node-options", "--shell", "--script-shell"})  # fmt: skip
_NPX_LOCAL = frozenset({"--no-install", "--no", "--offline"})  # only what this project installed already runs
_NPX_PLAIN = frozenset({"-y", "--yes", "-q", "--quiet", "--silent", "--"})  # change nothing about what runs
_JS_INSTALL = frozenset({"install", "i", "add", "update", "up", "upgrade", "ci", "link"})
# 'prettier', '@scope/tool': a package named without a version (with one, npx asks the registry which to run).
_PACKAGE_NAME = re.compile(r"(@[a-z0-9][a-z0-9._-]*/)?([a-z0-9][a-z0-9._-]*)", re.IGNORECASE)
# Settings that change what npx or bunx runs ('npm_config_package=x', a project .npmrc saying 'package=x').
_JS_RUNNER_SETTINGS = re.compile(r"npm_config_|bun_", re.IGNORECASE)
_JS_RUNNER_FILES = frozenset({".npmrc", "bunfig.toml"})


def _npx(inv: Invocation, st: State) -> None:
    _run_js_package(inv, st, local=True)


def _pnpx(inv: Invocation, st: State) -> None:
    _run_js_package(inv, st, local=False)  # 'pnpm dlx' by another name


def _run_js_package(inv: Invocation, st: State, *, local: bool) -> None:
    """``npx X``, ``bunx X``: the package X (or each ``-p`` one) is fetched when the project lacks it, and run.
    With ``local`` (npx, npm exec, bunx; not pnpm dlx or yarn dlx, which always fetch), a tool the project has
    installed runs from its ``node_modules`` and nothing is fetched: that is as safe as running it by its path."""
    if any(a in _NPX_LOCAL for a in inv.args):
        return
    head = _until_command(inv.args, _NPX_VALUED)
    words = _operands(head, _NPX_VALUED)
    specs = [w for o, w in words if o in ("-p", "--package")]
    tool = next((w for o, w in words if not o), "")
    plain = bool(tool) and head[-1] == tool and all(a in _NPX_PLAIN for a in head[:-1])
    program = _installed_here(tool, st) if local and plain else None
    if program is not None:  # judged as running it by its path is: what it holds, a download of it, its arguments
        from contop.security.posix import judge_words

        judge_words([program, *inv.args[len(head) :]], st, inv.text)
        return
    for spec in specs or ([tool] if tool else []):
        _judge_spec(spec, True, inv.name, inv, st)
    if not specs and not tool and any(o in ("-c", "--call") for o, _ in words):
        st.add(CONFIRM, _FROM_A_REGISTRY.format(inv.name), inv.text)


def _installed_here(tool: str, st: State) -> str | None:
    """The program npx runs for ``tool`` when the project has it installed: ``node_modules/.bin/NAME`` (``NAME.cmd``
    on Windows) in the working folder or a parent, where npx looks first; None when it would fetch one. Known only
    when this decision may look at the disk and knows the folder, and the line changes no setting of the runner.
    A scoped package (``@scope/NAME``) also needs its own folder there: a bin of that name may come from another
    package, and npx would then fetch the scoped one."""
    name = _PACKAGE_NAME.fullmatch(tool)
    folder = st.here()
    if name is None or folder is None or "$" in folder or st.resolve is None or st.windows != (os.name == "nt"):
        return None
    if any(_JS_RUNNER_SETTINGS.match(var) for var in (*st.vars, *st.command_env)):
        return None
    paths = ntpath if st.windows else posixpath
    if any(paths.basename(written).lower() in _JS_RUNNER_FILES for written in st.written):
        return None
    scope, bin_name = (name.group(1) or "").rstrip("/"), name.group(2)
    here = st.policy.expand(".", folder)
    while True:
        modules = paths.join(here, "node_modules")
        program = paths.join(modules, ".bin", bin_name + (".cmd" if st.windows else ""))
        if program not in st.written and os.path.isfile(program):  # one this line writes is not the project's
            return program if not scope or os.path.isdir(paths.join(modules, scope, bin_name)) else None
        parent = paths.dirname(here)
        if parent == here:
            return None
        here = parent


def _until_command(args: list[str], valued: frozenset[str]) -> list[str]:
    """The words up to and including the program a runner runs: the words after it are that program's own."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in valued:
            i += 2
            continue
        if not arg.startswith("-"):
            return args[: i + 1]
        i += 1
    return args


def _js_package_manager(inv: Invocation, st: State) -> None:
    """``npm exec X``, ``npm x X``, ``pnpm dlx X``, ``yarn dlx X``, ``bun x X``, ``npm create X`` / ``npm init
    X`` (the package create-X) run a package; ``npm install github:u/r`` and other addresses run its scripts."""
    words = _operands(inv.args, _NPX_VALUED)
    runners = {"npm": ("exec", "x"), "pnpm": ("dlx",), "yarn": ("dlx",), "bun": ("x",)}.get(inv.name, ())
    verbs = frozenset({*runners, "create", "init", "run", "run-script", "test", "start", "exec", *_JS_INSTALL})
    at = _verb(words, verbs)
    if at < 0:
        return
    verb = words[at][1]
    rest = words[at + 1 :]
    if verb in runners:
        if any(a in _NPX_LOCAL for a in inv.args):
            return
        at_verb = inv.args.index(verb) if verb in inv.args else len(inv.args)
        # 'npm --prefix d exec x' looks for x in another project; 'pnpm dlx' and 'yarn dlx' always fetch
        local = inv.name in ("npm", "bun") and all(a in _NPX_PLAIN for a in inv.args[:at_verb])
        after = inv.args[at_verb + 1 :]
        _run_js_package(Invocation(f"{inv.name} {verb}", after, inv.text), st, local=local)
    elif verb in ("create", "init"):
        initializer = next((w for o, w in rest if not o), "")
        if initializer:
            _judge_spec(initializer, True, f"{inv.name} {verb}", inv, st)
    elif verb in _JS_INSTALL:
        for option, word in rest:
            if not option:
                _judge_spec(word, False, "", inv, st)


# ------------------------------------------------------------------------------------------- go, deno

_GO_VALUED = frozenset({"-C", "-tags", "-ldflags", "-gcflags", "-asmflags", "-mod", "-modfile", "-overlay", "-p",
                        "-pkgdir", "-exec", "-toolexec", "-o", "-buildmode", "-compiler", "-installsuffix",
                        "-pgo", "-covermode", "-coverpkg"})  # fmt: skip


def _go(inv: Invocation, st: State) -> None:
    """``go run example.com/cmd@latest`` fetches a module at that version and runs it; ``go run .`` and
    ``go run main.go`` build the project's own code."""
    words = _operands(_until_command(inv.args[1:], _GO_VALUED), _GO_VALUED) if inv.args[:1] == ["run"] else []
    package = next((w for o, w in words if not o), "")
    if "@" in package and not package.endswith(".go"):
        st.add(CONFIRM, _FROM_A_REGISTRY.format("go run"), inv.text)


_DENO_VALUED = frozenset({"-c", "--config", "--import-map", "--lock", "--cert", "--location", "--seed", "-L",
                          "--log-level", "--inspect", "--inspect-brk", "--inspect-wait", "--reload", "-r"})  # fmt: skip


def _deno(inv: Invocation, st: State) -> None:
    """``deno run https://…`` runs code from that address; ``npm:x`` and ``jsr:x`` fetch a package and run it
    (so do ``deno x`` and ``deno run -A npm:x``)."""
    words = _operands(inv.args, _DENO_VALUED)
    at = _verb(words, frozenset({"run", "x", "install", "add", "serve", "test", "eval", "compile", "task"}))
    if at < 0:
        return
    verb = words[at][1]
    target = next((w for o, w in words[at + 1 :] if not o), "")
    if not target:
        return
    if verb in ("run", "serve", "x", "install", "compile") and _from_address(target):
        st.add(BLOCK, FROM_AN_ADDRESS, inv.text)
    elif verb == "x" or (verb in ("run", "serve") and target.startswith(("npm:", "jsr:"))):
        st.add(CONFIRM, _FROM_A_REGISTRY.format(f"deno {verb}"), inv.text)


def _bun(inv: Invocation, st: State) -> None:
    if inv.args[:1] == ["x"]:
        _npx(Invocation("bun x", inv.args[1:], inv.text), st)
    else:
        _js_package_manager(inv, st)


RULES: dict[str, Rule] = {
    "pip": _pip, "uv": _uv, "uvx": _uvx, "pipx": _pipx,
    "npx": _npx, "bunx": _npx, "pnpx": _pnpx,
    "npm": _js_package_manager, "pnpm": _js_package_manager, "yarn": _js_package_manager, "bun": _bun,
    "go": _go, "deno": _deno,
}  # fmt: skip
