"""`PUT /api/settings` refuses an execution_model the agent could not run, naming the accepted forms, a local
model server address that is not an http(s) URL, and a local model without its server's address."""

from __future__ import annotations

import json
from pathlib import Path

from contop.testing.server import ServerProcess


def test_execution_model_is_validated_on_save(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    before = (server.home / "settings.json").read_bytes()
    for bad in (
        "nonsense-model",
        "bogus:thing",
        "gemini:",
        ":gpt-4.1",
        "openai:gpt-4.1\nx",
        "gemini:a\x00b",
        "openai:a b",
    ):
        r = server.request("PUT", "/api/settings", json={**settings, "execution_model": bad})
        assert r.status_code == 422, (bad, r.text)
        detail = r.json()["detail"]
        assert repr(bad) in detail and "'provider:model'" in detail, detail
        assert "openai-compatible:<model>" in detail and "scripted:<path" in detail, detail
    assert (server.home / "settings.json").read_bytes() == before  # nothing was saved
    for good in ("gemini:gemini-2.5-pro", "scripted:/tmp/script.json", "claude:x", ""):
        r = server.request("PUT", "/api/settings", json={**settings, "execution_model": good})
        assert r.status_code == 200, (good, r.text)
        assert r.json()["execution_model"] == good


def test_local_model_base_url_is_validated_on_save(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    for bad in ("localhost:11434", "ftp://x/v1", "http://", "http:// x"):
        r = server.request("PUT", "/api/settings", json={**settings, "local_model_base_url": bad})
        assert r.status_code == 422 and "http://localhost:11434/v1" in r.json()["detail"], (bad, r.text)
    for good in ("http://localhost:11434/v1", "https://lm.example:8443/v1", ""):
        r = server.request("PUT", "/api/settings", json={**settings, "local_model_base_url": good})
        assert r.status_code == 200 and r.json()["local_model_base_url"] == good, (good, r.text)


def test_a_local_model_is_saved_with_its_server_address(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    before = (server.home / "settings.json").read_bytes()
    for model in ("openai-compatible:llama3", "local:llama3"):
        for url in ("", "   "):
            r = server.request(
                "PUT", "/api/settings", json={**settings, "execution_model": model, "local_model_base_url": url}
            )
            assert r.status_code == 422, (model, url, r.text)
            detail = r.json()["detail"]
            assert repr(model) in detail and "needs local_model_base_url" in detail, detail
            assert "http://localhost:11434/v1" in detail and "same save" in detail, detail
    assert (server.home / "settings.json").read_bytes() == before  # nothing was saved
    both = {**settings, "execution_model": "openai-compatible:llama3", "local_model_base_url": "http://127.0.0.1:1/v1"}
    r = server.request("PUT", "/api/settings", json=both)
    assert r.status_code == 200, r.text
    assert r.json()["execution_model"] == "openai-compatible:llama3"
    assert r.json()["local_model_base_url"] == "http://127.0.0.1:1/v1"


async def test_the_phones_are_told_when_the_models_change(server: ServerProcess) -> None:
    """A phone kept the model list it got on connecting, and then offered a model the desktop refused."""
    from contop.client import ContopClient
    from tests.transport.conftest import pair

    async with ContopClient(pair(server)["url"], video=False) as phone:
        first = await phone.next_message("state_update", timeout=10)
        assert first.payload.model_dump()["models"] == []
        settings = server.request("GET", "/api/settings").json()
        local = {"execution_model": "openai-compatible:llama3.1", "local_model_base_url": "http://127.0.0.1:9/v1"}
        saved = server.request("PUT", "/api/settings", json={**settings, **local})
        assert saved.status_code == 200, saved.text
        update = await phone.next_message("state_update", timeout=5)
        assert [m["id"] for m in update.payload.model_dump()["models"]] == ["openai-compatible:llama3.1"]
        # A hand edit of settings.json, as README allows, is picked up too.
        path = server.home / "settings.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "execution_model": "openai-compatible:qwen3"}))
        update = await phone.next_message("state_update", timeout=5)
        assert [m["id"] for m in update.payload.model_dump()["models"]] == ["openai-compatible:qwen3"]


def test_the_server_log_says_at_start_which_model_it_uses_or_why_it_cannot(tmp_path: Path) -> None:
    bad = ServerProcess(tmp_path / "bad", env={"CONTOP_EXECUTION_MODEL": "gpt-4o"}).start()
    try:
        assert "the execution model cannot be used: $CONTOP_EXECUTION_MODEL 'gpt-4o' is not" in bad.log(), bad.log()
    finally:
        bad.stop()
    good = ServerProcess(tmp_path / "good", env={"CONTOP_EXECUTION_MODEL": "scripted:/nonexistent/s.json"}).start()
    try:
        assert "execution model: scripted:s.json (test model)" in good.log(), good.log()
    finally:
        good.stop()
