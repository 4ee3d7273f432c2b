"""Built-in skills are installed once: a deleted or edited one is the user's choice and stays so across starts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from contop.agent.skills.store import SkillStore
from contop.server.skills_install import RECORD_NAME, builtin_skills_dir, install_builtin_skills
from contop.testing.server import ServerProcess

pytestmark = pytest.mark.timeout(60)


def source_with(root: Path, *names: str) -> Path:
    for name in names:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: The {name} skill\n---\n\n# {name}\n")
    return root


def recorded(target: Path) -> list[str]:
    return list(json.loads((target / RECORD_NAME).read_text()))


def test_a_deleted_builtin_is_not_installed_again(tmp_path: Path) -> None:
    target = tmp_path / "skills"
    first = install_builtin_skills(target)
    assert "skill-authoring" in first
    assert recorded(target) == sorted(first)
    shutil.rmtree(target / "skill-authoring")
    assert install_builtin_skills(target) == []
    assert not (target / "skill-authoring").exists()
    assert recorded(target) == sorted(first)
    # the record is not a skill
    assert [info.name for info in SkillStore(target).discover()] == sorted(set(first) - {"skill-authoring"})


def test_a_builtin_added_by_a_later_version_is_still_installed(tmp_path: Path) -> None:
    target = tmp_path / "skills"
    assert install_builtin_skills(target, source_with(tmp_path / "v1", "alpha", "beta")) == ["alpha", "beta"]
    shutil.rmtree(target / "alpha")
    v2 = source_with(tmp_path / "v2", "alpha", "beta", "gamma")
    assert install_builtin_skills(target, v2) == ["gamma"]
    assert sorted(p.name for p in target.iterdir() if p.is_dir()) == ["beta", "gamma"]
    assert recorded(target) == ["alpha", "beta", "gamma"]


def test_a_home_from_before_the_record_keeps_its_skills_and_gets_a_record(tmp_path: Path) -> None:
    source = source_with(tmp_path / "src", "alpha", "beta")
    target = tmp_path / "skills"
    (target / "alpha").mkdir(parents=True)
    (target / "alpha" / "SKILL.md").write_text("my own edit")
    assert install_builtin_skills(target, source) == ["beta"]  # not there yet: installed, as before
    assert (target / "alpha" / "SKILL.md").read_text() == "my own edit"
    assert recorded(target) == ["alpha", "beta"]
    shutil.rmtree(target / "alpha")
    assert install_builtin_skills(target, source) == []


def test_an_unreadable_record_counts_every_builtin_as_installed_and_is_rewritten(tmp_path: Path) -> None:
    source = source_with(tmp_path / "src", "alpha", "beta")
    target = tmp_path / "skills"
    install_builtin_skills(target, source)
    (target / RECORD_NAME).write_text("{not json")
    assert install_builtin_skills(target, source) == []
    assert recorded(target) == ["alpha", "beta"]


def test_a_restarted_server_does_not_bring_back_a_deleted_builtin(tmp_path: Path) -> None:
    assert builtin_skills_dir() is not None
    home = tmp_path / "home"
    with ServerProcess(home) as server:
        assert "installed built-in skills:" in server.log()
    assert (home / "skills" / "skill-authoring" / "SKILL.md").is_file()
    shutil.rmtree(home / "skills" / "skill-authoring")
    with ServerProcess(home) as server:
        assert "installed built-in skills" not in server.log()
    assert not (home / "skills" / "skill-authoring").exists()
