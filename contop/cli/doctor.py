"""``contop doctor``: what this machine supports and what to install for the rest."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from contop.agent.models import (
    KEY_OF,
    PROXY_PORTS,
    ModelSpec,
    _proxy_url,
    explicit_model,
    parse_model_string,
    resolve_model,
    subscription_hint,
)
from contop.cli.common import add_home_argument, state_dir_from
from contop.core.errors import ConfigError
from contop.core.settings import (
    API_KEY_ENV,
    EXECUTION_MODEL_FORMS,
    ICE_URL_FORMS,
    PROVIDER_KEYS,
    Settings,
    describe_validation_error,
    ice_servers_problem,
    validate_settings,
)
from contop.core.urlsecrets import hide_url_passwords
from contop.server.statedir import StateDir


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    MISSING = "missing"


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    detail: str
    advice: str = ""


def _run(argv: list[str], timeout: float = 3) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def check_display(env: Mapping[str, str]) -> Check:
    if sys.platform != "linux":
        return Check("display", Level.OK, f"{sys.platform} desktop session assumed")
    display = env.get("DISPLAY")
    if not display:
        wayland = " (Wayland without XWayland is not supported)" if env.get("WAYLAND_DISPLAY") else ""
        return Check(
            "display",
            Level.MISSING,
            f"no DISPLAY{wayland}: screen, video and GUI tools are off",
            "run inside an X11 session, or start Xvfb and export DISPLAY",
        )
    try:
        from Xlib import display as xdisplay

        d = xdisplay.Display(display)
        screen = d.screen()
        detail = f"X11 {display} {screen.width_in_pixels}x{screen.height_in_pixels}"
        has_xtest = d.has_extension("XTEST")
        has_damage = d.has_extension("DAMAGE")
        d.close()
    except Exception as exc:
        return Check("display", Level.MISSING, f"cannot open X display {display}: {exc}", "check DISPLAY and xauth")
    if not has_xtest:
        return Check(
            "display", Level.WARN, f"{detail}; no XTEST extension (input falls back to xdotool)", "apt install xdotool"
        )
    if not has_damage:
        return Check("display", Level.OK, f"{detail}, XTEST input; no DAMAGE (the video compares the screen each tick)")
    return Check("display", Level.OK, f"{detail}, XTEST input, DAMAGE (a still screen is not grabbed)")


def check_input() -> Check:
    if sys.platform != "linux":
        return Check("input", Level.OK, "native input API")
    if not os.environ.get("DISPLAY"):  # XTest and xdotool both need an X display
        return Check("input", Level.MISSING, "no DISPLAY: no mouse or keyboard input", "see display above")
    if shutil.which("xdotool"):
        return Check("input", Level.OK, "xdotool present (fallback for XTest)")
    return Check("input", Level.WARN, "xdotool not found (only needed when XTest is missing)", "apt install xdotool")


ATSPI_BUS = "org.a11y.Bus"


def _atspi_bus_state(address: str) -> tuple[bool, bool]:
    """Whether ``org.a11y.Bus`` has an owner on the session bus at ``address``, and whether the bus can start it
    on first use (D-Bus activation from at-spi2-core's service file). Asking does not start it."""
    from jeepney import message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as conn:
        running = bool(conn.send_and_get_reply(message_bus.NameHasOwner(ATSPI_BUS), timeout=2).body[0])
        activatable = ATSPI_BUS in conn.send_and_get_reply(message_bus.ListActivatableNames(), timeout=2).body[0]
    return running, activatable


def check_accessibility(env: Mapping[str, str]) -> Check:
    if sys.platform != "linux":
        return Check("accessibility", Level.OK, "platform accessibility API")
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "")
    if not address:
        return Check(
            "accessibility",
            Level.MISSING,
            "no D-Bus session bus: UI elements come from OCR only",
            "run in a desktop session (DBUS_SESSION_BUS_ADDRESS) with at-spi2-core installed",
        )
    try:
        running, activatable = _atspi_bus_state(address)
    except ImportError:
        return Check("accessibility", Level.MISSING, "the jeepney package is missing", "pip install jeepney")
    except Exception as exc:
        return Check(
            "accessibility",
            Level.WARN,
            f"cannot ask the D-Bus session bus {address[:120]!r} about AT-SPI: {exc or type(exc).__name__}",
            "check DBUS_SESSION_BUS_ADDRESS (UI elements come from OCR until it answers)",
        )
    if running:
        return Check("accessibility", Level.OK, "AT-SPI bus running (org.a11y.Bus on the session bus)")
    if activatable:
        return Check(
            "accessibility",
            Level.OK,
            "AT-SPI bus available on demand: the session bus starts org.a11y.Bus on first use",
        )
    return Check(
        "accessibility",
        Level.WARN,
        "session bus present, but no AT-SPI bus: org.a11y.Bus is neither running nor activatable; "
        "UI elements come from OCR only",
        "apt install at-spi2-core",
    )


def check_ocr() -> Check:
    if importlib.util.find_spec("rapidocr_onnxruntime") or importlib.util.find_spec("rapidocr"):
        return Check("ocr", Level.OK, "rapidocr installed (offline models)")
    return Check(
        "ocr", Level.MISSING, "no OCR engine: screen grounding uses accessibility only", "pip install 'contop[ocr]'"
    )


def check_sandbox() -> Check:
    from contop.security.sandbox import detect_sandbox

    status = detect_sandbox()
    if status.backend is not None:
        return Check("sandbox", Level.OK, status.description)
    advice = (
        "apt install bubblewrap"
        if sys.platform == "linux" and not shutil.which("bwrap")
        else ("enable unprivileged user namespaces, or run a Docker engine")
    )
    return Check("sandbox", Level.MISSING, status.description, advice)


def check_gate() -> Check:
    import contop.security as security

    if security.COMPILED:
        return Check("gate", Level.OK, f"security gate {security.GATE_BUILD}")
    return Check(
        "gate",
        Level.WARN,
        f"security gate {security.GATE_BUILD}: same decisions, about half the speed",
        "unset CONTOP_GATE_COMPILED"
        if os.environ.get("CONTOP_GATE_COMPILED") == "0"
        else "make gate (needs gcc and the Python headers)",
    )


def check_event_loop(env: Mapping[str, str]) -> Check:
    """The event loop ``contop serve`` will run (``contop.cli.serve.event_loop`` decides)."""
    from contop.cli.serve import event_loop

    if event_loop(env) == "uvloop":
        return Check("loop", Level.OK, "uvloop: data-channel messages are read, timed and dispatched in C")
    if env.get("CONTOP_EVENT_LOOP", "").lower() == "asyncio":
        return Check(
            "loop",
            Level.WARN,
            "asyncio's own loop (CONTOP_EVENT_LOOP=asyncio): about a fifth more server CPU per message",
            "unset CONTOP_EVENT_LOOP to use uvloop",
        )
    if sys.platform == "win32":
        return Check("loop", Level.OK, "asyncio's own loop (uvloop does not run on Windows)")
    return Check(
        "loop",
        Level.WARN,
        "asyncio's own loop: uvloop is not installed (about a fifth more server CPU per message)",
        "pip install uvloop",
    )


def check_docker() -> Check:
    docker = shutil.which("docker")
    if docker is None:
        return Check("docker", Level.WARN, "docker not installed (optional second sandbox)")
    out = _run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=4)
    if out is None or out.returncode != 0:
        return Check("docker", Level.WARN, "docker CLI present but no engine is running (optional)")
    return Check("docker", Level.OK, f"engine {out.stdout.strip()}")


def check_cloudflared() -> Check:
    if shutil.which("cloudflared"):
        return Check("cloudflared", Level.OK, "present: remote access tunnel available")
    return Check(
        "cloudflared",
        Level.WARN,
        "not installed: remote access works over LAN/Tailscale only",
        "install cloudflared from Cloudflare's packages",
    )


@dataclass(frozen=True)
class SettingsFile:
    """``settings.json`` as the server would find it at start: ``settings`` is None when it is missing or invalid,
    ``problem`` says why it is invalid (the server would move it aside), ``unreadable`` why it cannot be read."""

    path: Path
    exists: bool = False
    settings: Settings | None = None
    problem: str = ""
    unreadable: str = ""


def read_settings_file(path: Path) -> SettingsFile:
    """Read and validate ``path`` exactly as the server's settings store does, without ever changing it."""
    try:
        if path.exists() and not (path.is_file() or path.is_dir()):  # a FIFO: the read would wait for a writer
            return SettingsFile(path, exists=True, unreadable="not a regular file (a FIFO or a device)")
        raw = path.read_bytes()
    except FileNotFoundError:
        return SettingsFile(path)
    except OSError as exc:
        return SettingsFile(path, exists=True, unreadable=exc.strerror or str(exc))
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return SettingsFile(path, exists=True, problem=f"not valid JSON ({exc})")
    except RecursionError:  # json's decoder recurses once per nesting level
        return SettingsFile(path, exists=True, problem="not valid JSON (nested too deeply)")
    try:
        return SettingsFile(path, exists=True, settings=validate_settings(data))
    except ValidationError as exc:
        return SettingsFile(path, exists=True, problem=f"wrong values: {describe_validation_error(exc)[:400]}")
    except TypeError as exc:
        return SettingsFile(path, exists=True, problem=str(exc))


def check_state_dir(state_dir: StateDir) -> Check:
    """The folder the server keeps its state in: one it would refuse is named with why, before the other checks
    report what they cannot read in it."""
    problem = state_dir.problem()
    if problem is not None:
        return Check(
            "state dir",
            Level.MISSING,
            problem,
            "contop serve will not start with it: choose a new or empty folder with --home / CONTOP_HOME "
            "(the default is ~/.contop)",
        )
    if not state_dir.root.exists():
        return Check("state dir", Level.OK, f"{state_dir.root} does not exist yet: the server creates it (0700)")
    mode = state_dir.root.stat().st_mode & 0o777
    if mode & 0o077:
        return Check(
            "state dir",
            Level.WARN,
            f"{state_dir.root} is open to others (mode {mode:04o})",
            "the server makes it 0700 at its next start, or run: chmod 700 " + str(state_dir.root),
        )
    return Check("state dir", Level.OK, f"{state_dir.root} (0700)")


def check_settings(file: SettingsFile) -> Check:
    if file.unreadable:
        return Check(
            "settings",
            Level.MISSING,
            f"cannot read {file.path}: {file.unreadable}",
            "make it readable by the user who runs contop serve (mode 0600); until then the server uses defaults",
        )
    if file.problem:
        return Check(
            "settings",
            Level.MISSING,
            f"{file.path} is invalid: {file.problem}",
            f"fix it before starting the server: at start the server moves an invalid file to "
            f"{file.path.name}.corrupt-<time> and starts from defaults, so the API keys and choices it holds "
            "stop being used",
        )
    if not file.exists:
        return Check("settings", Level.OK, f"no {file.path} yet: the server writes the defaults at first start")
    # The server starts with such an entry (it leaves it out), but PUT /api/settings refuses the file as it stands.
    ice_problem = ice_servers_problem(file.settings.ice_servers) if file.settings else None
    if ice_problem:
        return Check(
            "settings",
            Level.MISSING,
            f"{file.path} has a STUN/TURN server no browser accepts ({ice_problem}): the server leaves it out, and "
            "every settings save from the desktop app or the API is refused until it is fixed",
            f"fix or remove that ice_servers entry: urls is one URL or a list of them ({ICE_URL_FORMS}), and a "
            "TURN server also needs a username and a credential",
        )
    return Check("settings", Level.OK, f"{file.path} is valid")


def _scripted_problem(path: str) -> str | None:
    from contop.agent.scripted import load_script

    try:
        load_script(path)
    except ConfigError as exc:
        return str(exc)
    return None


def execution_model_problem(env: Mapping[str, str], settings: Settings) -> Check | None:
    """What is wrong with the execution model the server would use (``$CONTOP_EXECUTION_MODEL`` first, as the
    server reads it), or None. The agent answers every request with that error until it is fixed."""
    value, where = explicit_model(settings, env)
    if not value:
        return None
    try:
        provider, model = parse_model_string(value)
    except ConfigError:
        return Check(
            "models",
            Level.MISSING,
            f"{where} {hide_url_passwords(value)[:200]!r} is not valid: the agent cannot run",
            f"use {EXECUTION_MODEL_FORMS}",
        )
    if provider == "scripted":
        problem = _scripted_problem(model)
        if problem is None:
            return None
        return Check(
            "models",
            Level.MISSING,
            f"{where} is scripted:{model} (test model), but {problem.removeprefix('scripted model: ')}: "
            "the agent cannot run",
            "point it at a JSON list of steps (CONTRACTS §8), or use a real model: "
            + EXECUTION_MODEL_FORMS.split(", 'scripted:")[0],
        )
    try:
        resolve_model(settings, env)  # the server's own resolution, so both agree
    except ConfigError as exc:
        if provider == "openai-compatible":
            return Check(
                "models",
                Level.MISSING,
                f"{where} is openai-compatible:{model} but local_model_base_url is empty: the agent cannot run",
                "set local_model_base_url to the server's OpenAI-compatible URL "
                '(for Ollama "http://127.0.0.1:11434/v1")',
            )
        if provider not in KEY_OF:
            return Check("models", Level.MISSING, f"{where}: {exc}", f"use {EXECUTION_MODEL_FORMS}")
        key = KEY_OF[provider]
        var = API_KEY_ENV[key]
        proxy = f", or use your subscription: {subscription_hint(provider)}" if provider in PROXY_PORTS else ""
        return Check(
            "models",
            Level.MISSING,
            f"{where} is {provider}:{model} but there is no {provider} API key ({key} in settings.json is empty "
            f"and ${var} is not set): the agent cannot run",
            f"put the key in settings.json as {key} (desktop app → Settings, or PUT /api/settings), or set "
            f"{var} in the environment of `contop serve`{proxy}",
        )
    return None


PROBE_TIMEOUT_S = 2.0


def _get(url: str, api_key: str = "") -> httpx.Response | None:
    """``GET url`` on a server of this computer (no proxy from the environment), or None when nothing answers.
    ``api_key`` goes as ``Authorization: Bearer``, as the agent sends it."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    try:
        return httpx.get(url, headers=headers, timeout=PROBE_TIMEOUT_S, trust_env=False)
    except (httpx.HTTPError, httpx.InvalidURL):
        return None


def _model_ids(answer: httpx.Response | None) -> list[str] | None:
    """The model ids of an OpenAI-style ``GET /models`` answer (``{"data": [{"id": …}, …]}``), or None when the
    answer is not one: a 404 page or another program's JSON shows something listens, not that the agent can run."""
    if answer is None or answer.status_code != 200:
        return None
    try:
        body = answer.json()
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    return [item["id"] for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]


def _listed(model: str, ids: list[str]) -> bool:
    # Ollama lists "llama3.1:latest" and runs "llama3.1" as that tag.
    return model in ids or (":" not in model and f"{model}:latest" in ids)


MODELS_SHOWN = 10


def local_server_problem(spec: ModelSpec, where: str) -> Check | None:
    """The local OpenAI-compatible server must list its models at ``<local_model_base_url>/models``, as every such
    server does (Ollama, LM Studio, llama.cpp, vLLM), and the model in use among them. Asked as the agent asks it:
    with the API key of ``local_model_api_key`` when one is set."""
    base = spec.request_url.strip().rstrip("/")
    shown = hide_url_passwords(base)
    subject = f"{where} is openai-compatible:{spec.model}"
    answer = _get(base + "/models", spec.api_key)
    if answer is None:
        return Check(
            "models",
            Level.MISSING,
            f"{subject}, but nothing answers at {hide_url_passwords(spec.base_url)}: the agent cannot run",
            "start Ollama (`ollama serve`) or your local server, or fix local_model_base_url",
        )
    ids = _model_ids(answer)
    if ids is None:
        return _not_a_model_list(subject, base, answer.status_code, spec.api_key)
    if _listed(spec.model, ids):
        return None
    if ids:
        names = ", ".join(i[:80] for i in ids[:MODELS_SHOWN]) + (
            f" and {len(ids) - MODELS_SHOWN} more" if len(ids) > MODELS_SHOWN else ""
        )
        has = f"it lists {names}"
    else:
        has = "it lists no models"
    # A warning, not a failure: some servers load a model on first use that their list leaves out.
    return Check(
        "models",
        Level.WARN,
        f"{subject}, but the server at {shown} does not list {spec.model!r} ({has}): requests for it may fail",
        f"get the model onto the server (Ollama: `ollama pull {spec.model}`), or set {where} to "
        "openai-compatible:<one it lists>",
    )


def _not_a_model_list(subject: str, base: str, status: int, api_key: str) -> Check:
    """Something answers at ``base``, but ``GET base/models`` gave no model list (HTTP ``status``); ``api_key`` is
    the key it was asked with ("" for none)."""
    shown = hide_url_passwords(base)
    openai_address = "the address of the server's OpenAI-compatible API (for Ollama http://127.0.0.1:11434/v1)"
    if status == 404 and not base.endswith("/v1"):
        # The usual mistake: Ollama's address without the /v1 of its OpenAI-compatible API. Asking there too
        # tells a missing /v1 from a wrong address.
        if _model_ids(_get(base + "/v1/models", api_key)) is not None:
            return Check(
                "models",
                Level.MISSING,
                f"{subject}, but local_model_base_url {shown} lacks /v1: {shown}/models is not found (HTTP 404), "
                f"while {shown}/v1/models lists the models; the agent cannot run",
                f"set local_model_base_url to {shown}/v1",
            )
        return Check(
            "models",
            Level.MISSING,
            f"{subject}, but {shown}/models is not found (HTTP 404), and {shown}/v1/models gives no model list "
            "either: the agent cannot run",
            f"set local_model_base_url to {openai_address}",
        )
    if status in (401, 403):
        key = "set local_model_api_key (or LOCAL_MODEL_API_KEY) to its API key"
        if api_key:
            return Check(
                "models",
                Level.MISSING,
                f"{subject}, but the server at {shown} refuses the API key it was sent (HTTP {status}): the agent "
                "cannot run",
                f"{key} (the one the server was started with, e.g. its --api-key)",
            )
        return Check(
            "models",
            Level.MISSING,
            f"{subject}, but the server at {shown} refuses the request (HTTP {status}): the agent cannot run",
            f"{key}, or, for a server that wants a user and password, put them in local_model_base_url "
            "(http://user:password@host/v1)",
        )
    # It may still run the model (a server without a model list), so this warns only.
    return Check(
        "models",
        Level.WARN,
        f"{subject}, but {shown}/models answers HTTP {status} without an OpenAI-style model list: the server at "
        "that address may not be OpenAI-compatible",
        f"check that local_model_base_url is {openai_address}",
    )


def proxy_problem(settings: Settings, provider: str) -> Check | None:
    """A provider in subscription mode needs its ``contop proxy`` running, and the CLI it drives installed."""
    url = (_proxy_url(settings, provider) or "").removesuffix("/v1")
    subject = f'provider_auth.{provider}.mode is "cli_proxy"'
    try:
        port = urlsplit(url).port
    except ValueError:
        port = None
    flag = f" --port {port}" if port and port != PROXY_PORTS[provider] else ""
    start = f"start it with `contop proxy {provider}{flag}` or from the desktop app"
    answer = _get(url + "/health")
    if answer is None:
        return Check(
            "models",
            Level.MISSING,
            f"{subject}, but no subscription proxy answers at {url}: {provider} models cannot run",
            start,
        )
    try:
        health = answer.json()
    except ValueError:
        health = None
    if not isinstance(health, dict) or health.get("provider") != provider:
        served = health.get("provider") if isinstance(health, dict) else None
        what = (
            f"the {served} subscription proxy answers at {url}"
            if isinstance(served, str)
            else f"something answers at {url} (HTTP {answer.status_code} to /health), but not a subscription proxy"
        )
        return Check(
            "models",
            Level.MISSING,
            f"{subject}, but {what}: {provider} models cannot run",
            f"{start}, or fix provider_auth.{provider}.proxy_url",
        )
    if health.get("cli_installed") is False:
        return Check(
            "models",
            Level.MISSING,
            f"the {provider} subscription proxy at {url} runs, but its CLI `{health.get('cli', '?')}` is not "
            f"installed: {provider} models cannot run",
            f"install it with `{health.get('install', '?')}`, then log in once with `{health.get('login', '?')}`",
        )
    return None


def check_models(env: Mapping[str, str], file: SettingsFile) -> Check:
    if file.problem:
        return Check(
            "models",
            Level.MISSING,
            f"not judged: {file.path.name} is invalid (see settings), and the server would drop the models and "
            "keys it names",
            f"fix {file.path.name}, then run contop doctor again",
        )
    settings = file.settings or Settings()
    problem = execution_model_problem(env, settings)
    if problem is not None:
        return problem
    execution, where = explicit_model(settings, env)
    spec = resolve_model(settings, env)  # execution_model_problem found no ConfigError
    if spec is not None and spec.provider == "openai-compatible":
        problem = local_server_problem(spec, where)
        if problem is not None:
            return problem
    configured = []
    for key in PROVIDER_KEYS:  # the local server's key chooses no model
        var = API_KEY_ENV[key]
        provider = key.removesuffix("_api_key")
        if getattr(settings, key, ""):
            configured.append(provider)
        elif env.get(var):
            configured.append(f"{provider} (from ${var})")
    for provider, auth in settings.provider_auth.items():
        if provider in PROXY_PORTS and auth.mode == "cli_proxy":
            problem = proxy_problem(settings, provider)
            if problem is not None:
                return problem
            configured.append(f"{provider} via subscription proxy")
    if execution:
        label = f"execution_model={execution}"
        if parse_model_string(execution)[0] == "scripted":
            label += " (test model: replays a fixed script, for tests and demos)"
        label += f" (from {where})" if where != "execution_model" else ""
        if spec is not None and spec.provider == "openai-compatible" and spec.api_key:
            label += " with the API key of " + (
                "local_model_api_key" if settings.local_model_api_key else "$LOCAL_MODEL_API_KEY"
            )
        configured.append(label)
    if configured:
        return Check("models", Level.OK, ", ".join(configured))
    return Check(
        "models",
        Level.MISSING,
        "no model configured: the agent will explain how to set one up",
        "add an API key in settings.json or set GEMINI_API_KEY / OPENAI_API_KEY / ANTHROPIC_API_KEY / "
        "OPENROUTER_API_KEY, or point execution_model at a local OpenAI-compatible server "
        "(Ollama)",
    )


# What the server needs to start as configured: a state directory it accepts, and a settings.json it will use as
# written (an invalid one is moved aside at start, and with it the keys and choices it holds). Everything else is
# a capability the server runs without (display, OCR, sandbox, Docker, cloudflared…) or setup the agent explains
# itself (models), so a ✘ there reports, and does not fail.
REQUIRED_CHECKS = ("state dir", "settings")


def required_failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.name in REQUIRED_CHECKS and c.level is Level.MISSING]


def summary(checks: list[Check]) -> str:
    failed = required_failures(checks)
    if failed:
        names = ", ".join(c.name for c in failed)
        return f"✘ required: {names} must be fixed before `contop serve` runs as configured (exit status 1)"
    optional = [c.name for c in checks if c.level is not Level.OK and c.name not in REQUIRED_CHECKS]
    rest = f"; the others marked are optional or set up later: {', '.join(optional)}" if optional else ""
    warned = [c.name for c in checks if c.name in REQUIRED_CHECKS and c.level is Level.WARN]
    if warned:  # usable, but what the line above it says deserves a look
        return f"✔ required: {', '.join(REQUIRED_CHECKS)} work (see the warning for {', '.join(warned)}){rest}"
    return f"✔ required: {', '.join(REQUIRED_CHECKS)} are fine{rest}"


def gather(env: Mapping[str, str], settings: SettingsFile, state_dir: StateDir | None = None) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        *([lambda: check_state_dir(state_dir)] if state_dir is not None else []),
        lambda: check_display(env),
        check_input,
        lambda: check_accessibility(env),
        check_ocr,
        check_sandbox,
        check_gate,
        lambda: check_event_loop(env),
        check_docker,
        check_cloudflared,
        lambda: check_settings(settings),
        lambda: check_models(env, settings),
    ]
    return [c() for c in checks]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("doctor", help="report what this machine supports and what to install")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_home_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    state_dir = state_dir_from(args.home, os.environ)
    checks = gather(os.environ, read_settings_file(state_dir.settings), state_dir)
    if args.json:
        # The report is the output here, and its exit status stays 0: a program reads "required" and "level".
        print(json.dumps([{**asdict(c), "required": c.name in REQUIRED_CHECKS} for c in checks], indent=2))
        return 0
    marks = {Level.OK: "✔", Level.WARN: "!", Level.MISSING: "✘"}
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{marks[c.level]} {c.name:<{width}}  {c.detail}")
        if c.advice and c.level is not Level.OK:
            print(f"  {'':<{width}}  → {c.advice}")
    print()
    print(summary(checks))
    return 1 if required_failures(checks) else 0
