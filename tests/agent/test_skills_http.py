"""The skills REST endpoints and /api/default-prompts against a real ``contop serve``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from contop.testing.server import ServerProcess

pytestmark = pytest.mark.timeout(120)


def test_builtins_are_listed(http: httpx.Client) -> None:
    response = http.get("/api/skills")
    assert response.status_code == 200
    names = {s["name"]: s for s in response.json()}
    assert {"advanced-workflows", "web-research", "office-documents"} <= set(names)
    assert names["web-research"] == {
        "name": "web-research", "description": names["web-research"]["description"], "version": "1.0.0",
        "skill_type": "mixed", "enabled": False, "has_scripts": True,
    }  # fmt: skip


def test_create_read_edit_and_errors(http: httpx.Client) -> None:
    created = http.post("/api/skills", json={"name": "my-notes", "description": "Keep notes"})
    assert created.status_code == 201 and created.json()["name"] == "my-notes"
    assert http.post("/api/skills", json={"name": "my-notes", "description": "x"}).status_code == 409
    assert http.post("/api/skills", json={"name": "../evil", "description": "x"}).status_code == 400
    assert http.post("/api/skills", json={"name": "x"}).status_code == 422
    assert http.post("/api/skills", content=b"{nope").status_code == 400
    got = http.get("/api/skills/my-notes").json()
    assert got["content"].startswith("---\nname: my-notes") and got["description"] == "Keep notes"
    new = got["content"].replace("Keep notes", "Keep better notes")
    put = http.put("/api/skills/my-notes", json={"content": new})
    assert put.status_code == 200 and put.json()["description"] == "Keep better notes"
    bad = http.put("/api/skills/my-notes", json={"content": "---\nname: my-notes\n---\n"})
    assert bad.status_code == 422 and "description" in bad.json()["detail"]
    assert http.get("/api/skills/nope").status_code == 404
    assert http.get("/api/skills/..%2Fetc").status_code in (400, 404)
    assert http.put("/api/skills/nope", json={"content": new}).status_code == 404


def test_enable_disable_conflicts_and_workflows(http: httpx.Client, server: ServerProcess) -> None:
    for name in ("tool-one", "tool-two"):
        folder = server.home / "skills" / name
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: d\nskill_type: python\n---\nbody\n")
        (folder / "scripts" / "t.py").write_text("def same_tool():\n    return 1\n")
    assert http.post("/api/skills/tool-one/enable").json() == {"name": "tool-one", "enabled": True}
    conflict = http.post("/api/skills/tool-two/enable")
    assert conflict.status_code == 409 and "same_tool" in conflict.json()["detail"]
    settings = http.get("/api/settings").json()
    assert settings["enabled_skills"] == ["tool-one"]
    assert http.post("/api/skills/tool-one/disable").json()["enabled"] is False
    assert http.get("/api/settings").json()["enabled_skills"] == []
    assert http.post("/api/skills/missing/enable").status_code == 404
    workflows = http.get("/api/skills/office-documents/workflows").json()
    assert workflows["skill_name"] == "office-documents"
    assert [w["filename"] for w in workflows["workflows"]] == ["to-pdf.yaml"]
    assert "libreoffice" in workflows["workflows"][0]["content"]


def test_default_prompts(http: httpx.Client) -> None:
    data = http.get("/api/default-prompts").json()
    assert set(data) == {"conversation", "execution"}
    assert "{tool_instructions}" in data["execution"] and "Contop" in data["conversation"]


def test_skills_need_the_admin_token(server: ServerProcess, tmp_path: Path) -> None:
    assert httpx.get(server.base_url + "/api/skills").status_code == 401


def test_a_skill_md_that_is_not_utf8_is_reported_invalid_everywhere(http: httpx.Client, server: ServerProcess) -> None:
    folder = server.home / "skills" / "latin1"
    folder.mkdir()
    (folder / "SKILL.md").write_bytes("---\nname: latin1\ndescription: Café\n---\n".encode("latin-1"))
    got = http.get("/api/skills/latin1")
    assert got.status_code == 422, got.text
    assert "not UTF-8" in got.json()["detail"] and "latin1" in got.json()["detail"]
    listed = {s["name"]: s for s in http.get("/api/skills").json()}["latin1"]
    assert "not UTF-8" in listed["error"]
    enable = http.post("/api/skills/latin1/enable")
    assert enable.status_code == 422 and "not UTF-8" in enable.json()["detail"]
    assert "Traceback" not in server.all_logs()


def test_skill_folders_are_private(http: httpx.Client, server: ServerProcess) -> None:
    """Built-ins copied from the package and skills created through the API: folders 0700, files 0600."""
    assert http.post("/api/skills", json={"name": "mine", "description": "Private notes"}).status_code == 201
    for name in ("mine", "office-documents"):
        for path in [server.home / "skills" / name, *(server.home / "skills" / name).rglob("*")]:
            expected = 0o700 if path.is_dir() else 0o600
            assert path.stat().st_mode & 0o777 == expected, path
