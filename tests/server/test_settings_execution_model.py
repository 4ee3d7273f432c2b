"""`PUT /api/settings` refuses an execution_model the agent could not run, naming the accepted forms, and a local
model server address that is not an http(s) URL."""

from __future__ import annotations

from contop.testing.server import ServerProcess


def test_execution_model_is_validated_on_save(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    before = (server.home / "settings.json").read_bytes()
    for bad in ("nonsense-model", "bogus:thing", "gemini:", ":gpt-4.1"):
        r = server.request("PUT", "/api/settings", json={**settings, "execution_model": bad})
        assert r.status_code == 422, (bad, r.text)
        detail = r.json()["detail"]
        assert repr(bad) in detail and "'provider:model'" in detail, detail
        assert "openai-compatible:<model>" in detail and "scripted:<path" in detail, detail
    assert (server.home / "settings.json").read_bytes() == before  # nothing was saved
    for good in ("gemini:gemini-2.5-pro", "openai-compatible:llama3.1", "scripted:/tmp/script.json", "claude:x", ""):
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
