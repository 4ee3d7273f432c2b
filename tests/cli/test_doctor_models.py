"""`contop doctor` judges the execution model the server would use, not only whether one is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.proxy.proxyproc import ProxyProcess, free_port


def doctor(home: Path, settings: dict[str, object], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    (home / "settings.json").write_text(json.dumps(settings))
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    full_env.update(env, CONTOP_HOME=str(home))
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", *args], capture_output=True, text=True, timeout=60, env=full_env
    )
    assert out.returncode == 0, out.stderr
    return out


def doctor_models(home: Path, settings: dict[str, object], **env: str) -> dict[str, str]:
    out = doctor(home, settings, "--json", **env)
    return next(c for c in json.loads(out.stdout) if c["name"] == "models")


def test_an_invalid_execution_model_is_a_problem(tmp_path: Path) -> None:
    models = doctor_models(tmp_path / "home", {"execution_model": "bogus:thing"})
    assert models["level"] == "missing"
    assert "'bogus:thing' is not valid" in models["detail"]
    assert "'provider:model'" in models["advice"]


def test_the_environment_override_is_judged_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    models = doctor_models(home, {"execution_model": "gemini:gemini-2.5-pro"}, CONTOP_EXECUTION_MODEL="nonsense")
    assert models["level"] == "missing" and "$CONTOP_EXECUTION_MODEL 'nonsense'" in models["detail"]
    models = doctor_models(
        home, {"execution_model": "bogus:thing"}, CONTOP_EXECUTION_MODEL="anthropic:claude-x", ANTHROPIC_API_KEY="k"
    )
    assert models["level"] == "ok" and "anthropic:claude-x (from $CONTOP_EXECUTION_MODEL)" in models["detail"]


def printed_models(human: str) -> tuple[str, str]:
    """The models check as ``contop doctor`` prints it, padding collapsed: its mark line and its advice line."""
    lines = [" ".join(line.split()) for line in human.splitlines()]
    at = next(i for i, line in enumerate(lines) if line.split()[1:2] == ["models"])
    return lines[at], lines[at + 1] if at + 1 < len(lines) and lines[at + 1].startswith("→") else ""


@contextmanager
def http_server(answers: dict[str, object]) -> Iterator[str]:
    """A real HTTP server on a free loopback port: JSON ``answers`` by path, 404 for any other path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path in answers
            body = json.dumps(answers[self.path] if found else {"error": "not found"}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_local_model_needs_its_server_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    models = doctor_models(home, {"execution_model": "openai-compatible:llama3.1"})
    assert models["level"] == "missing" and "local_model_base_url is empty" in models["detail"]
    with http_server({"/v1/models": {"object": "list", "data": [{"id": "llama3.1"}]}}) as url:
        local = {"execution_model": "openai-compatible:llama3.1", "local_model_base_url": f"{url}/v1"}
        models = doctor_models(home, local)
    assert models["level"] == "ok" and "execution_model=openai-compatible:llama3.1" in models["detail"], models


def test_a_local_server_that_does_not_answer_is_a_problem(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dead = f"http://127.0.0.1:{free_port()}/v1"
    local = {"execution_model": "openai-compatible:llama3.1", "local_model_base_url": dead}
    line, advice = printed_models(doctor(home, local).stdout)
    assert line == (
        f"✘ models execution_model is openai-compatible:llama3.1, but nothing answers at {dead}: the agent cannot run"
    )
    assert advice == "→ start Ollama (`ollama serve`) or your local server, or fix local_model_base_url"
    models = doctor_models(home, {"local_model_base_url": dead}, CONTOP_EXECUTION_MODEL="openai-compatible:x")
    assert models["level"] == "missing", models
    assert models["detail"].startswith(f"$CONTOP_EXECUTION_MODEL is openai-compatible:x, but nothing answers at {dead}")
    with http_server({}) as url:  # something answers, but lists no models: perhaps not an OpenAI-compatible API
        models = doctor_models(home, {**local, "local_model_base_url": f"{url}/v1"})
    assert models["level"] == "warn" and "without an OpenAI-style model list" in models["detail"], models
    with_password = dead.replace("http://", "http://qa:pw-SECRET@")
    out = doctor(home, {**local, "local_model_base_url": with_password}).stdout
    assert "nothing answers at http://qa:***@127.0.0.1:" in out and "pw-SECRET" not in out, out


def test_a_subscription_proxy_that_is_not_running_is_a_problem(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    proxied = {"provider_auth": {"openai": {"mode": "cli_proxy", "proxy_url": f"http://127.0.0.1:{port}"}}}
    line, advice = printed_models(doctor(home, proxied).stdout)
    assert line == (
        f'✘ models provider_auth.openai.mode is "cli_proxy", but no subscription proxy answers at '
        f"http://127.0.0.1:{port}: openai models cannot run"
    )
    assert advice == f"→ start it with `contop proxy openai --port {port}` or from the desktop app"
    with http_server({"/health": {"status": "ok"}}) as url:  # something else holds the port
        proxied["provider_auth"]["openai"]["proxy_url"] = f"{url}/v1"
        models = doctor_models(home, proxied)
    assert models["level"] == "missing" and "but not a subscription proxy" in models["detail"], models
    assert "fix provider_auth.openai.proxy_url" in models["advice"], models


def test_a_subscription_proxy_without_its_cli_is_a_problem(tmp_path: Path) -> None:
    """The real ``contop proxy gemini`` runs, but the Gemini CLI it drives is not installed."""
    proxy = ProxyProcess(tmp_path / "proxy", "gemini")
    (proxy.bin / "gemini").unlink()
    proxy.start()
    try:
        proxied = {
            "execution_model": "gemini:gemini-2.5-flash",
            "provider_auth": {"gemini": {"mode": "cli_proxy", "proxy_url": proxy.url}},
        }
        human = doctor(tmp_path / "home", proxied).stdout
    finally:
        proxy.stop()
    line, advice = printed_models(human)
    assert line == (
        f"✘ models the gemini subscription proxy at {proxy.url} runs, but its CLI `gemini` is not installed: "
        "gemini models cannot run"
    )
    assert advice == "→ install it with `npm install -g @google/gemini-cli`, then log in once with `gemini`"


def test_a_provider_without_its_key_is_a_problem(tmp_path: Path) -> None:
    """The run would fail at its first request: doctor names the missing key and where to put it."""
    home = tmp_path / "home"
    for provider, key, var in (
        ("gemini", "gemini_api_key", "GEMINI_API_KEY"),
        ("openai", "openai_api_key", "OPENAI_API_KEY"),
        ("anthropic", "anthropic_api_key", "ANTHROPIC_API_KEY"),
        ("openrouter", "openrouter_api_key", "OPENROUTER_API_KEY"),
    ):
        chosen = {"execution_model": f"{provider}:some-model"}
        models = doctor_models(home, chosen)
        assert models["level"] == "missing", models
        assert f"no {provider} API key" in models["detail"] and var in models["detail"], models
        assert f"settings.json as {key}" in models["advice"] and var in models["advice"], models
        assert doctor_models(home, {**chosen, key: "sk-in-the-file"})["level"] == "ok"
        assert doctor_models(home, chosen, **{var: "sk-from-env"})["level"] == "ok"
        from_env = doctor_models(home, {}, CONTOP_EXECUTION_MODEL=f"{provider}:some-model")
        assert from_env["level"] == "missing" and "$CONTOP_EXECUTION_MODEL" in from_env["detail"], from_env
    proxy = ProxyProcess(tmp_path / "proxy", "gemini").start()
    try:
        auth = {"gemini": {"mode": "cli_proxy", "proxy_url": proxy.url}}
        models = doctor_models(home, {"execution_model": "gemini:gemini-2.5-flash", "provider_auth": auth})
    finally:
        proxy.stop()
    assert models["level"] == "ok", models  # the subscription proxy needs no key
    assert "gemini via subscription proxy" in models["detail"], models
    human = doctor(home, {"execution_model": "gemini:gemini-2.5-flash"}).stdout
    assert "✘ models" in human and "no gemini API key" in human, human


def test_the_scripted_model_is_labelled_and_its_file_checked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = doctor_models(home, {"execution_model": "scripted:/nonexistent.json"})
    assert missing["level"] == "missing", missing
    assert "scripted:/nonexistent.json (test model)" in missing["detail"] and "cannot read" in missing["detail"]
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    models = doctor_models(home, {"execution_model": f"scripted:{broken}"})
    assert models["level"] == "missing" and "not valid JSON" in models["detail"], models
    broken.write_text('{"text": "not a list"}')
    models = doctor_models(home, {"execution_model": f"scripted:{broken}"})
    assert models["level"] == "missing" and "a script is a JSON list" in models["detail"], models
    script = tmp_path / "demo.json"
    script.write_text('[{"thinking": "hm"}, {"text": "done"}]')
    models = doctor_models(home, {"execution_model": f"scripted:{script}"})
    assert models["level"] == "ok" and f"scripted:{script} (test model" in models["detail"], models
    models = doctor_models(home, {}, CONTOP_EXECUTION_MODEL=f"scripted:{script}")
    assert models["level"] == "ok" and "(test model" in models["detail"], models
