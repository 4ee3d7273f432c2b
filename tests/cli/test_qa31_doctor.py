"""`contop doctor` counts a local model server as working only when it lists its models the OpenAI way at
``<local_model_base_url>/models``, and names a missing ``/v1`` and a model the server does not have."""

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

# What Ollama answers at /v1/models (its native API lives at the address without /v1).
OLLAMA_MODELS = {
    "object": "list",
    "data": [{"id": "llama3.1:latest", "object": "model"}, {"id": "qwen2.5:7b", "object": "model"}],
}


@contextmanager
def fake_ollama() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on a free loopback port shaped like Ollama: the model list at /v1/models, a plain-text
    404 page for anything else. Yields its address (without /v1) and the paths asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path == "/v1/models":
                status, kind, body = 200, "application/json", json.dumps(OLLAMA_MODELS).encode()
            else:
                status, kind, body = 404, "text/plain", b"404 page not found"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def doctor(home: Path, settings: dict[str, object], *args: str) -> str:
    """``contop doctor`` run as a user would, with ``settings`` as the home's settings.json; its stdout."""
    home.mkdir(exist_ok=True)
    (home / "settings.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    env["CONTOP_HOME"] = str(home)
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", *args], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def models_check(home: Path, settings: dict[str, object]) -> dict[str, str]:
    checks = json.loads(doctor(home, settings, "--json"))
    found: dict[str, str] = next(c for c in checks if c["name"] == "models")
    return found


def printed_models(human: str) -> tuple[str, str]:
    """The models check as printed: its mark line and its advice line, padding collapsed."""
    lines = [" ".join(line.split()) for line in human.splitlines()]
    at = next(i for i, line in enumerate(lines) if line.split()[1:2] == ["models"])
    return lines[at], lines[at + 1] if at + 1 < len(lines) and lines[at + 1].startswith("→") else ""


def test_an_address_without_v1_is_named_with_the_fix(tmp_path: Path) -> None:
    """Ollama's own address answers 404 at /models: the agent would get 404 for every request."""
    with fake_ollama() as (url, asked):
        local = {"execution_model": "openai-compatible:llama3.1", "local_model_base_url": url}
        line, advice = printed_models(doctor(tmp_path / "home", local))
        assert "/models" in asked and "/v1/models" in asked, asked
        with_password = url.replace("http://", "http://alice:pw-SECRET-31@")
        hidden = url.replace("http://", "http://alice:***@")
        out = doctor(tmp_path / "home", {**local, "local_model_base_url": with_password + "/"})
    assert line == (
        f"✘ models execution_model is openai-compatible:llama3.1, but local_model_base_url {url} lacks /v1: "
        f"{url}/models is not found (HTTP 404), while {url}/v1/models lists the models; the agent cannot run"
    )
    assert advice == f"→ set local_model_base_url to {url}/v1"
    assert f"set local_model_base_url to {hidden}/v1" in out and "pw-SECRET-31" not in out, out


def test_an_address_that_serves_no_openai_api_is_not_ok(tmp_path: Path) -> None:
    with fake_ollama() as (url, _asked):
        wrong = {"execution_model": "openai-compatible:llama3.1", "local_model_base_url": f"{url}/api"}
        models = models_check(tmp_path / "home", wrong)
    assert models["level"] == "missing", models
    assert f"{url}/api/models is not found (HTTP 404), and {url}/api/v1/models gives no model list" in models["detail"]


def test_a_model_the_server_does_not_list_is_named(tmp_path: Path) -> None:
    with fake_ollama() as (url, _asked):
        local = {"execution_model": "openai-compatible:llama3", "local_model_base_url": f"{url}/v1"}
        line, advice = printed_models(doctor(tmp_path / "home", local))
    assert line == (
        f"! models execution_model is openai-compatible:llama3, but the server at {url}/v1 does not list 'llama3' "
        "(it lists llama3.1:latest, qwen2.5:7b): requests for it may fail"
    )
    assert advice == (
        "→ get the model onto the server (Ollama: `ollama pull llama3`), or set execution_model to "
        "openai-compatible:<one it lists>"
    )


def test_a_good_local_setup_is_ok(tmp_path: Path) -> None:
    """Ollama runs "llama3.1" as the "llama3.1:latest" it lists."""
    with fake_ollama() as (url, asked):
        for model in ("llama3.1", "llama3.1:latest", "qwen2.5:7b"):
            local = {"execution_model": f"openai-compatible:{model}", "local_model_base_url": f"{url}/v1/"}
            models = models_check(tmp_path / "home", local)
            assert models["level"] == "ok", models
            assert f"execution_model=openai-compatible:{model}" in models["detail"], models
    assert set(asked) == {"/v1/models"}, asked
