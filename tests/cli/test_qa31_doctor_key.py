"""`contop doctor` asks a local model server that wants an API key with ``local_model_api_key`` (or
``LOCAL_MODEL_API_KEY``), as the agent does, and a refusal names that setting.

QA (round 31): doctor asked without a key, so a vLLM or llama.cpp server started with --api-key was reported as
refusing, with the advice to put a user and password in the URL, which such a server does not take.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

KEY = "llamacpp-qa31-" + "0e5d8c2b9f71a346"
WRONG = "wrong-qa31-" + "4f2a7c90e1b35d68"


@contextmanager
def keyed_server(status: int = 401) -> Iterator[tuple[str, list[str]]]:
    """An OpenAI-compatible server on loopback (``/v1/models``) that answers only ``Authorization: Bearer KEY``
    and refuses anything else with ``status``. Yields its /v1 address and each request's Authorization header."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            given = self.headers.get("Authorization", "")
            seen.append(given)
            if given == f"Bearer {KEY}" and self.path == "/v1/models":
                code, body = 200, {"object": "list", "data": [{"id": "qwen2.5-7b", "object": "model"}]}
            elif given == f"Bearer {KEY}":
                code, body = 404, {"error": {"message": "not found"}}
            else:
                code, body = status, {"error": {"message": f"invalid api key: {given}"}}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def models_check(home: Path, settings: dict[str, object], env: dict[str, str] | None = None) -> dict[str, str]:
    """``contop doctor --json`` run as a user would, with ``settings`` as the home's settings.json (and ``env``
    added to a clean environment); its models check. The whole output must not hold either key."""
    home.mkdir(exist_ok=True)
    (home / "settings.json").write_text(json.dumps(settings))
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "CONTOP_EXECUTION_MODEL"}
    clean.update(env or {}, CONTOP_HOME=str(home))
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json"], capture_output=True, text=True, timeout=60, env=clean
    )
    assert out.returncode == 0, out.stderr
    assert KEY not in out.stdout + out.stderr and WRONG not in out.stdout + out.stderr
    found: dict[str, str] = next(c for c in json.loads(out.stdout) if c["name"] == "models")
    return found


def local(url: str, **more: object) -> dict[str, object]:
    return {"execution_model": "openai-compatible:qwen2.5-7b", "local_model_base_url": url, **more}


def test_the_key_in_the_settings_is_sent(tmp_path: Path) -> None:
    with keyed_server() as (url, seen):
        models = models_check(tmp_path / "home", local(url, local_model_api_key=KEY))
    assert models["level"] == "ok", models
    assert models["detail"] == (
        "execution_model=openai-compatible:qwen2.5-7b with the API key of local_model_api_key"
    ), models
    assert seen == [f"Bearer {KEY}"]


def test_the_environment_variable_is_sent(tmp_path: Path) -> None:
    with keyed_server() as (url, seen):
        models = models_check(tmp_path / "home", local(url), {"LOCAL_MODEL_API_KEY": KEY})
    assert models["level"] == "ok", models
    assert models["detail"].endswith("with the API key of $LOCAL_MODEL_API_KEY"), models
    assert seen == [f"Bearer {KEY}"]


def test_the_key_wins_over_a_user_and_password_in_the_url(tmp_path: Path) -> None:
    with keyed_server() as (url, seen):
        with_password = url.replace("http://", "http://alice:pw-doctor-31@")
        models = models_check(tmp_path / "home", local(with_password, local_model_api_key=KEY))
    assert models["level"] == "ok", models
    assert seen == [f"Bearer {KEY}"]


@pytest.mark.parametrize("status", [401, 403])
def test_without_the_key_the_refusal_names_the_setting(tmp_path: Path, status: int) -> None:
    with keyed_server(status) as (url, seen):
        models = models_check(tmp_path / "home", local(url))
    assert models["level"] == "missing", models
    assert models["detail"] == (
        f"execution_model is openai-compatible:qwen2.5-7b, but the server at {url} refuses the request "
        f"(HTTP {status}): the agent cannot run"
    )
    assert models["advice"].startswith("set local_model_api_key (or LOCAL_MODEL_API_KEY) to its API key"), models
    assert seen == [""]


def test_a_user_and_password_alone_are_still_sent_as_basic(tmp_path: Path) -> None:
    with keyed_server() as (url, seen):
        models = models_check(tmp_path / "home", local(url.replace("http://", "http://alice:pw-doctor-31@")))
    assert seen == ["Basic " + base64.b64encode(b"alice:pw-doctor-31").decode()]
    assert models["level"] == "missing" and "http://alice:***@127.0.0.1" in models["detail"], models
    assert "pw-doctor-31" not in json.dumps(models)


def test_a_refused_key_is_named_and_not_shown(tmp_path: Path) -> None:
    with keyed_server() as (url, seen):
        models = models_check(tmp_path / "home", local(url), {"LOCAL_MODEL_API_KEY": WRONG})
    assert models["level"] == "missing", models
    assert f"the server at {url} refuses the API key it was sent (HTTP 401)" in models["detail"], models
    assert models["advice"].startswith("set local_model_api_key (or LOCAL_MODEL_API_KEY) to its API key"), models
    assert seen == [f"Bearer {WRONG}"]


def test_the_local_key_alone_is_no_model(tmp_path: Path) -> None:
    """The local server's key is no provider: with no model chosen, nothing is configured."""
    models = models_check(tmp_path / "home", {"local_model_api_key": KEY})
    assert models["level"] == "missing" and models["detail"].startswith("no model configured"), models
    models = models_check(tmp_path / "home", {"local_model_api_key": KEY, "gemini_api_key": "g"})
    assert (models["level"], models["detail"]) == ("ok", "gemini"), models
