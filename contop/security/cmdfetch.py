"""Command rules for package tools that download code and run it: ``npx``, ``npm exec``, ``pnpm dlx``, ``bunx``,
``uvx``, ``pipx run``, ``go run mod@version``, ``deno run URL``, and installs from an address rather than a
registry (``pip install git+https://…``, ``poetry add``/``pdm add`` of one, ``cargo install --git``, a requirements
file read from an address), whose build or install scripts run at once. ``commands`` dispatches to
them next to the other rules of the same programs.

A package fetched from a registry by name asks: nobody here has read its code. Code fetched from any address
(a URL, a git repository) is blocked, as ``curl … | sh`` is: the same unreviewed code, from wherever the line says.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re

from contop.security.cmdbase import Invocation, Rule, runs_given_command
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


def from_address(spec: str) -> bool:
    """Whether a package (or an extension, a requirements file) is fetched from an address, not a registry."""
    return _ADDRESS.match(spec.strip()) is not None


def _judge_spec(spec: str, runs: bool, what: str, inv: Invocation, st: State) -> None:
    """One package given to a tool: blocked when it comes from an address; asked about when the tool runs it."""
    if from_address(spec):
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
        elif arg[:2] in valued and not arg.startswith("--"):  # '-egit+https://…', '-pcowsay': the value attached
            found.append((arg[:2], arg[2:]))
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
                         "--group", "--extra", "--with-requirements", "--requirements", "--directory", "--project",
                         "--script", "--package"})  # fmt: skip
_SPEC_OPTIONS = frozenset({"-e", "--editable", "--with", "--from", "--spec"})  # their value is a package too


# Options whose value is a requirements file: one read from an address names whatever packages it likes
# (``git+https://…`` among them), so it is code from that address as much as the packages it lists.
_REQUIREMENT_FILES = frozenset({"-r", "--requirement", "--requirements", "--with-requirements"})


def _installs(words: list[tuple[str, str]], start: int, inv: Invocation, st: State) -> None:
    """The packages an install names after its subcommand, and the requirements files it reads: one from an
    address runs its build at once."""
    for option, word in words[start + 1 :]:
        if not option or option in _SPEC_OPTIONS or option in _REQUIREMENT_FILES:
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
        if following and from_address(following):
            st.add(BLOCK, FROM_AN_ADDRESS, inv.text)
        for option, word in rest:
            if option == "--with" or option in _REQUIREMENT_FILES:
                _judge_spec(word, False, "", inv, st)


def _uvx(inv: Invocation, st: State) -> None:
    _run_package(_operands(inv.args, _PIP_VALUED), inv.name, inv, st)


def _run_package(words: list[tuple[str, str]], what: str, inv: Invocation, st: State) -> None:
    """A runner given ``[--from SPEC] [--with SPEC] TOOL args``: the tool's package (or the one --from names)
    is downloaded and run."""
    tool = next((w for o, w in words if not o), "")
    specs = [w for o, w in words if o in ("--from", "--spec")]
    for option, word in words:
        if option == "--with" or option in _REQUIREMENT_FILES:
            _judge_spec(word, False, "", inv, st)
    for spec in specs or ([tool] if tool else []):
        _judge_spec(spec, True, what, inv, st)


# poetry's and pdm's options that take a value ('-G dev', '--source name'), so that the value is not read as a package.
_POETRY_VALUED = frozenset({"-G", "--group", "-E", "--extras", "--source", "--python", "--platform", "--markers",
                            "-C", "--directory", "-P", "--project", "-p", "-L", "--lockfile", "-v", "--venv",
                            "-e", "--editable", "-u", "--update-strategy", "--config-setting"})  # fmt: skip


def _poetry(inv: Invocation, st: State) -> None:
    """``poetry add git+https://…``, ``pdm add https://…/x.whl`` (and ``poetry self add …``, which installs into
    poetry itself) install the package at once, building it: from an address, as ``pip install`` of it is."""
    words = _operands(inv.args, _POETRY_VALUED)
    verbs = [k for k, (option, _) in enumerate(words) if not option][:2]  # 'add', or 'self add'
    if verbs and words[verbs[0]][1] == "self":
        verbs = verbs[1:]
    if verbs and words[verbs[0]][1] == "add":
        _installs(words, verbs[0], inv, st)


_CARGO_VALUED = frozenset({"--git", "--branch", "--tag", "--rev", "--path", "--root", "--index", "--registry",
                           "--version", "--vers", "-j", "--jobs", "--target", "--target-dir", "--profile",
                           "-F", "--features", "--bin", "--example", "--config", "-Z", "--color",
                           "--manifest-path"})  # fmt: skip


def _cargo(inv: Invocation, st: State) -> None:
    """``cargo install --git https://…`` builds and installs a crate from that repository: its build script runs
    at once. ``cargo install ripgrep`` takes one from the registry, as ``pip install requests`` does."""
    words = _operands(inv.args, _CARGO_VALUED)
    at = _verb(words, frozenset({"install"}))
    if at >= 0:
        for option, word in words[at + 1 :]:
            if option == "--git":
                _judge_spec(word, False, "", inv, st)


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


# npm's commands and their aliases (npm's lib/utils/cmd-list.js): npm runs the command that a name, an alias or a
# prefix of just one of them stands for ('npm exe' is 'npm exec', 'npm cr' and 'npm innit' are 'npm init').
_NPM_COMMANDS = frozenset({
    "access", "adduser", "audit", "bugs", "cache", "ci", "completion", "config", "dedupe", "deprecate", "diff",
    "dist-tag", "docs", "doctor", "edit", "exec", "explain", "explore", "find-dupes", "fund", "get", "help",
    "help-search", "init", "install", "install-ci-test", "install-test", "link", "ll", "login", "logout", "ls", "org",
    "outdated", "owner", "pack", "ping", "pkg", "prefix", "profile", "prune", "publish", "query", "rebuild", "repo",
    "restart", "root", "run", "sbom", "search", "set", "shrinkwrap", "star", "stars", "start", "stop", "team", "test",
    "token", "undeprecate", "uninstall", "unpublish", "unstar", "update", "version", "view", "whoami",
})  # fmt: skip
_NPM_ALIASES = {
    "author": "owner", "home": "docs", "issues": "bugs", "info": "view", "show": "view", "find": "search",
    "add": "install", "unlink": "uninstall", "remove": "uninstall", "rm": "uninstall", "r": "uninstall",
    "un": "uninstall", "rb": "rebuild", "list": "ls", "ln": "link", "create": "init", "i": "install",
    "it": "install-test", "cit": "install-ci-test", "up": "update", "c": "config", "s": "search", "se": "search",
    "tst": "test", "t": "test", "ddp": "dedupe", "v": "view", "run-script": "run", "clean-install": "ci",
    "clean-install-test": "install-ci-test", "x": "exec", "why": "explain", "la": "ll", "verison": "version",
    "ic": "ci", "innit": "init", "in": "install", "ins": "install", "inst": "install", "insta": "install",
    "instal": "install", "isnt": "install", "isnta": "install", "isntal": "install", "isntall": "install",
    "install-clean": "ci", "isntall-clean": "ci", "hlep": "help", "dist-tags": "dist-tag", "upgrade": "update",
    "udpate": "update", "rum": "run", "sit": "install-ci-test", "urn": "run", "ogr": "org", "add-user": "adduser",
}  # fmt: skip
_NPM_NAMES = tuple(sorted(_NPM_COMMANDS | set(_NPM_ALIASES)))


def npm_command(word: str) -> str:
    """The npm command ``word`` runs, as npm's own lookup finds it ('' for none): the command of that name, the
    one an alias stands for, or the one a prefix of a single name (command or alias) abbreviates."""
    if word in _NPM_COMMANDS:
        return word
    if word in _NPM_ALIASES:
        return _NPM_ALIASES[word]
    if not word:
        return ""
    matches = [name for name in _NPM_NAMES if name.startswith(word)]
    if len(matches) != 1:
        return ""
    return _NPM_ALIASES.get(matches[0], matches[0])


# A package spec npm, pnpm and yarn read as a GitHub repository ('user/repo', 'user/repo#branch'), not a package of
# the registry or a folder ('./x', '~/x', '/x', 'C:x') or a tarball ('x/y.tgz').
_JS_SHORTHAND = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(?:#\S*)?")
_JS_FILE = re.compile(r"^(?:[.~/\\]|[A-Za-z]:)|\.(?:tgz|tar\.gz|tar)$", re.IGNORECASE)


def _js_from_address(spec: str) -> bool:
    """Whether npm fetches ``spec`` from an address: a URL or hosted-git spec, GitHub's ``user/repo`` shorthand,
    or an alias naming one (``x@github:a/b``, ``@scope/x@a/b``; ``x@npm:y`` is the registry's)."""
    spec = spec.strip()
    if from_address(spec):
        return True
    at = spec.find("@", 1)
    if at > 0:
        rest = spec[at + 1 :]
        return not rest.lower().startswith("npm:") and _js_from_address(rest)
    return _JS_SHORTHAND.fullmatch(spec) is not None and _JS_FILE.search(spec) is None


def _judge_js_spec(spec: str, runs: bool, what: str, inv: Invocation, st: State) -> None:
    if _js_from_address(spec):
        st.add(BLOCK, FROM_AN_ADDRESS, inv.text)
    elif runs:
        st.add(CONFIRM, _FROM_A_REGISTRY.format(what), inv.text)


# npm's settings that make it run other code: the shell text npx runs with no package ('call'), the shell every
# package script runs in, options given to node, the programs it opens, and the package npx runs.
_NPM_RUNS = frozenset({"call", "script-shell", "shell", "node-options", "git", "editor", "browser", "viewer",
                       "package", "init-module", "onload-script"})  # fmt: skip
_NPM_ENV = re.compile(r"npm_config_(.+)", re.IGNORECASE)
_NPMRC_LINE = re.compile(r"^\s*([\w.:/@-]+)\s*=\s*(.*?)\s*$", re.MULTILINE)


def _npm_settings(st: State) -> dict[str, str | None]:
    """The npm settings this line gives (None: a value it does not show): ``npm_config_X`` variables (any case)
    and what it writes into an ``.npmrc``."""
    found: dict[str, str | None] = {}
    for name, value in (*st.vars.items(), *st.command_env.items()):
        match = _NPM_ENV.fullmatch(name)
        if match is not None:
            found[match.group(1).lower().replace("_", "-")] = value
    paths = ntpath if st.windows else posixpath
    for written, text in st.written.items():
        if paths.basename(written).lower() != ".npmrc":
            continue
        if text is None:
            found["package"] = None  # may say anything
        else:
            found.update((m.group(1).lower(), m.group(2).strip("'\"")) for m in _NPMRC_LINE.finditer(text))
    return found


def judge_npm_setting(key: str, value: str | None, inv: Invocation, st: State) -> None:
    """One npm setting the line gives (by a variable, an ``.npmrc``, ``npm config set``): one that makes npm run
    other code asks, and the shell text of ``call`` is judged as the command it is."""
    key = key.lower().replace("_", "-")
    if key not in _NPM_RUNS:
        return
    if key == "call" and value:
        runs_given_command(value, "npm's", inv, st)
    st.add(CONFIRM, f"sets npm's {key} setting, which makes npm run other code", inv.text)


def _npm_line_settings(inv: Invocation, st: State) -> None:
    """The settings the line gives npm, and those given as options (``npm run build --script-shell=x``: npm reads
    every ``--name=value`` as a setting; 'call' and 'package' as options are the runner's, judged with it)."""
    for key, value in _npm_settings(st).items():
        judge_npm_setting(key, value, inv, st)
    for option, value in _operands(inv.args, _NPX_VALUED):
        key = option[2:].lower() if option.startswith("--") else ""
        if key not in ("call", "package"):
            judge_npm_setting(key, value, inv, st)


def _npm_config(words: list[tuple[str, str]], inv: Invocation, st: State) -> None:
    """``npm config set call 'cmd'``, ``npm set script-shell=x``: a setting kept in the user's .npmrc, used by every
    npm from then on."""
    plain = [w for o, w in words if not o]
    if npm_command(plain[0] if plain else "") == "config":
        plain = plain[1:]
    else:  # 'npm set …'
        plain = ["set", *plain[1:]]
    if not plain or plain[0] not in ("set", "edit"):
        return
    if plain[0] == "edit":
        st.add(CONFIRM, "edits npm's settings, which may make npm run other code", inv.text)
        return
    pairs = plain[1:]
    i = 0
    while i < len(pairs):
        if "=" in pairs[i]:
            key, _, value = pairs[i].partition("=")
            i += 1
        else:
            key, value = pairs[i], pairs[i + 1] if i + 1 < len(pairs) else ""
            i += 2
        judge_npm_setting(key, value, inv, st)


def _npx(inv: Invocation, st: State) -> None:
    _npm_line_settings(inv, st)
    _run_js_package(inv, st, local=True)


def _pnpx(inv: Invocation, st: State) -> None:
    _npm_line_settings(inv, st)
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
        _judge_js_spec(spec, True, inv.name, inv, st)
    calls = [w for o, w in words if o in ("-c", "--call")]
    for call in calls:  # 'npx -c CMD' runs CMD in a shell, the packages given on the path
        runs_given_command(call, inv.name, inv, st)
    if not specs and not tool and calls:
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
        # One this line writes with text it says ('>') is not the project's: npx may fetch one of that name. One
        # it changes in a way not followed (sed -i, cp, a download) is judged as running it by its path: it asks.
        written = st.written.get(program, "")
        if written is None or (program not in st.written and os.path.isfile(program)):
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
    X`` (the package create-X) run a package; ``npm install github:u/r`` and other addresses run its scripts.
    npm's command word is read as npm reads it (``npm exe``, ``npm cr``, ``npm isntall``)."""
    _npm_line_settings(inv, st)
    words = _operands(inv.args, _NPX_VALUED)
    runners = {"npm": ("exec",), "pnpm": ("dlx",), "yarn": ("dlx",), "bun": ("x",)}.get(inv.name, ())
    if inv.name == "npm":
        at = next((k for k, (option, _) in enumerate(words) if not option), -1)
        verb = npm_command(words[at][1]) if at >= 0 else ""
        if verb == "config" or verb == "set":
            _npm_config(words[at:], inv, st)
            return
    else:
        at = _verb(words, frozenset({*runners, "create", "init", "run", "run-script", "test", "start", "exec",
                                     *_JS_INSTALL}))  # fmt: skip
        verb = words[at][1] if at >= 0 else ""
    if at < 0:
        return
    written = words[at][1]
    rest = words[at + 1 :]
    if verb in runners:
        if any(a in _NPX_LOCAL for a in inv.args):
            return
        at_verb = inv.args.index(written) if written in inv.args else len(inv.args)
        # 'npm --prefix d exec x' looks for x in another project; 'pnpm dlx' and 'yarn dlx' always fetch
        local = inv.name in ("npm", "bun") and all(a in _NPX_PLAIN for a in inv.args[:at_verb])
        after = inv.args[at_verb + 1 :]
        _run_js_package(Invocation(f"{inv.name} {verb}", after, inv.text), st, local=local)
    elif verb in ("create", "init"):
        initializer = next((w for o, w in rest if not o), "")
        if initializer:
            _judge_js_spec(initializer, True, f"{inv.name} {verb}", inv, st)
    elif verb in _JS_INSTALL or verb in ("install-test", "install-ci-test"):
        for option, word in rest:
            if not option:
                _judge_js_spec(word, False, "", inv, st)


# The scripts npm, npx, pnpm and yarn are (run by node, or by their own name): each is judged as the tool it is.
_JS_TOOL_SCRIPTS = {"npm-cli.js": "npm", "npx-cli.js": "npx", "pnpm.cjs": "pnpm", "pnpm.js": "pnpm",
                    "pnpx.cjs": "pnpx", "yarn.js": "yarn", "yarn.cjs": "yarn"}  # fmt: skip
_NODE_VALUED = frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions",
                          "--title", "--env-file", "--input-type"})  # fmt: skip


def _as_tool(name: str, args: list[str], inv: Invocation, st: State) -> None:
    from contop.security import commands

    commands.judge(Invocation(name, args, inv.text, inv.via_xargs), st)


def _node(inv: Invocation, st: State) -> None:
    """``node …/npm/bin/npm-cli.js exec x`` is ``npm exec x``."""
    i = 0
    while i < len(inv.args):
        arg = inv.args[i]
        if arg in ("-e", "--eval", "-p", "--print", "-"):
            return
        if arg in _NODE_VALUED:
            i += 2
            continue
        if not arg.startswith("-"):
            tool = _JS_TOOL_SCRIPTS.get(re.split(r"[/\\]", arg)[-1].lower())
            if tool is not None:
                _as_tool(tool, inv.args[i + 1 :], inv, st)
            return
        i += 1


def _js_tool_script(inv: Invocation, st: State) -> None:
    _as_tool(_JS_TOOL_SCRIPTS[inv.name], inv.args, inv, st)


# What corepack runs by name: the package manager it stands in for ('corepack pnpm@8 dlx x' is 'pnpm dlx x').
_COREPACK_TOOLS = frozenset({"npm", "npx", "pnpm", "pnpx", "yarn", "yarnpkg"})


def _corepack(inv: Invocation, st: State) -> None:
    tool = next((a for a in inv.args if not a.startswith("-")), "")
    name = tool.split("@", 1)[0].lower() if not tool.startswith("@") else ""
    if name in _COREPACK_TOOLS:
        _as_tool("yarn" if name == "yarnpkg" else name, inv.args[inv.args.index(tool) + 1 :], inv, st)


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


_DENO_VALUED = frozenset({"-c", "--config", "--import-map", "--cert", "--location", "--seed", "-L",
                          "--log-level"})  # fmt: skip
# Options whose value deno takes only attached ('--reload=https://…'): the word after one of them is the script.
_DENO_OPTIONAL = frozenset({"--reload", "-r", "--inspect", "--inspect-brk", "--inspect-wait", "--lock"})
_DENO_VERBS = frozenset({"run", "x", "install", "add", "serve", "test", "bench", "eval", "compile", "task", "fmt",
                         "lint", "check", "cache", "info", "doc", "repl", "upgrade", "uninstall", "remove", "init",
                         "publish", "jupyter", "coverage", "types", "completions", "outdated", "clean", "lsp",
                         "vendor", "bundle"})  # fmt: skip
_DENO_RUNS_TARGET = frozenset({"run", "serve", "x", "install", "compile", "test", "bench"})
_IMPORTS_ADDRESS = re.compile(r"\bimport\b[\s\S]*?[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _deno(inv: Invocation, st: State) -> None:
    """``deno run https://…`` runs code from that address (so does deno 2's ``deno https://…``, with no
    subcommand, and ``deno eval "import('https://…')"``); ``npm:x`` and ``jsr:x`` fetch a package and run it (so
    do ``deno x`` and ``deno run -A npm:x``)."""
    words = [(o, w) for o, w in _operands(inv.args, _DENO_VALUED) if o not in _DENO_OPTIONAL]
    plain = [w for o, w in words if not o]
    if not plain:
        return
    verb, targets = (plain[0], plain[1:2]) if plain[0] in _DENO_VERBS else ("run", plain[:1])
    if verb == "eval":
        if targets and _IMPORTS_ADDRESS.search(targets[0]):
            st.add(BLOCK, FROM_AN_ADDRESS, inv.text)
        return
    target = targets[0] if targets else ""
    if not target:
        return
    if verb in _DENO_RUNS_TARGET and from_address(target):
        st.add(BLOCK, FROM_AN_ADDRESS, inv.text)
    elif verb == "x" or (verb in ("run", "serve") and target.startswith(("npm:", "jsr:"))):
        st.add(CONFIRM, _FROM_A_REGISTRY.format(f"deno {verb}"), inv.text)


def _bun(inv: Invocation, st: State) -> None:
    if inv.args[:1] == ["x"]:
        _npx(Invocation("bun x", inv.args[1:], inv.text), st)
    else:
        _js_package_manager(inv, st)


RULES: dict[str, Rule] = {
    "pip": _pip, "uv": _uv, "uvx": _uvx, "pipx": _pipx, "poetry": _poetry, "pdm": _poetry, "cargo": _cargo,
    "npx": _npx, "bunx": _npx, "pnpx": _pnpx,
    "npm": _js_package_manager, "pnpm": _js_package_manager, "yarn": _js_package_manager, "bun": _bun,
    "go": _go, "deno": _deno,
    "node": _node, "nodejs": _node, "corepack": _corepack,
    **{script: _js_tool_script for script in _JS_TOOL_SCRIPTS},
}  # fmt: skip
