"""Hostile skill folders and parameters: files that are not regular files, scripts too large or too slow to parse,
parallel enables and disables, workflow values that try to leave their quotes, and YAML errors' line numbers."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from contop.agent.events import RecordingEvents
from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import SkillStore, python_tool_names
from contop.agent.skills.workflow import bind, load_workflow, parse_workflow
from contop.testing.server import ServerProcess
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(120)


def make_skill(server: ServerProcess, name: str, files: dict[str, str] | None = None) -> Path:
    folder = server.home / "skills" / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: The {name} skill\n---\n\nDo it.\n")
    for rel, content in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content)
    return folder


def health_latency(server: ServerProcess) -> float:
    started = time.monotonic()
    response = httpx.get(f"{server.base_url}/health", timeout=30)
    assert response.status_code == 200
    return time.monotonic() - started


def enabled_skills(http: httpx.Client) -> set[str]:
    response = http.get("/api/skills")
    assert response.status_code == 200, response.text
    return {s["name"] for s in response.json() if s["enabled"]}


# --- 1. a fifo (or any file that is not a regular file) is never read ---------------------------------------------


def test_a_fifo_script_is_refused_at_once_and_the_server_keeps_answering(
    http: httpx.Client, server: ServerProcess, tmp_path: Path
) -> None:
    folder = make_skill(server, "fifo-skill")
    (folder / "scripts").mkdir()
    os.mkfifo(folder / "scripts" / "tools.py")
    outside = tmp_path / "elsewhere.yaml"  # a symlink out of the skill to a fifo: followed, and never blocks
    os.mkfifo(outside)
    linked = make_skill(server, "linked-fifo", {"workflows/keep.yaml": "steps:\n  - tool: wait\n"})
    (linked / "workflows" / "flow.yaml").symlink_to(outside)

    def enable(name: str) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, headers=server.admin_headers(), timeout=10) as client:
            return client.post(f"/api/skills/{name}/enable")

    with ThreadPoolExecutor(8) as pool:  # more than the worker threads that once each stayed blocked for good
        answers = list(pool.map(enable, ["fifo-skill"] * 8))
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"] == (
            "scripts/tools.py is a named pipe (fifo), not a regular file: skipped (it is never read)"
        )
    assert health_latency(server) < 1.0
    listed = http.get("/api/skills/fifo-skill/workflows", timeout=10)
    assert listed.status_code == 200, listed.text
    (entry,) = listed.json()["workflows"]
    assert entry["filename"] == "tools.py" and "named pipe (fifo)" in entry["content"]
    workflows = {w["filename"]: w["content"] for w in http.get("/api/skills/linked-fifo/workflows").json()["workflows"]}
    assert "workflows/flow.yaml is a named pipe (fifo)" in workflows["flow.yaml"]
    assert workflows["keep.yaml"] == "steps:\n  - tool: wait\n"  # the other files are still shown
    assert "linked-fifo" in {s["name"] for s in http.get("/api/skills").json()}


@pytest.mark.timeout(20)
def test_a_workflow_that_is_a_fifo_fails_to_run_with_its_name(tmp_path: Path) -> None:
    store = SkillStore(tmp_path)
    folder = tmp_path / "piped"
    (folder / "workflows").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: piped\ndescription: d\n---\nbody\n")
    os.mkfifo(folder / "workflows" / "go.yaml")
    with pytest.raises(SkillError, match=r"workflows/go.yaml is a named pipe \(fifo\)"):
        load_workflow(store.workflow_files("piped")["go"])


# --- 2. size limits, and parsing that cannot stop the server --------------------------------------------------------


def test_a_script_over_the_size_limit_is_refused_naming_the_file_and_the_limit(
    http: httpx.Client, server: ServerProcess
) -> None:
    make_skill(server, "too-big", {"scripts/big.py": "# filler\n" * 60_000 + "def tool():\n    return 1\n"})
    answer = http.post("/api/skills/too-big/enable")
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == "scripts/big.py is larger than 512 KB"
    assert "too-big" not in enabled_skills(http)


def test_a_script_slow_to_parse_does_not_stop_the_server_and_is_parsed_once(
    http: httpx.Client, server: ServerProcess
) -> None:
    # One long f-string: under the size limit, yet seconds of ast.parse, which holds the GIL while it runs
    slow = "x = f'" + "{x}" * (300 * 1024 // 3) + "'\n\ndef tool():\n    return 1\n"
    make_skill(server, "slow-parse", {"scripts/slow.py": slow})
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            latencies.append(health_latency(server))
            time.sleep(0.1)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        started = time.monotonic()
        first = http.post("/api/skills/slow-parse/enable", timeout=60)
        first_took = time.monotonic() - started
    finally:
        done.set()
        prober.join()
    assert first.status_code == 200, first.text
    assert len(latencies) >= 3 and max(latencies) < 1.0, (first_took, latencies)
    # unchanged since: neither a listing nor another enable parses it again
    assert http.post("/api/skills/slow-parse/disable").status_code == 200
    started = time.monotonic()
    again = http.post("/api/skills/slow-parse/enable")
    assert again.status_code == 200 and time.monotonic() - started < max(0.5, first_took / 4), first_took


def test_a_huge_sparse_skill_md_is_refused_without_being_read(http: httpx.Client, server: ServerProcess) -> None:
    folder = server.home / "skills" / "sparse-md"
    folder.mkdir()
    with (folder / "SKILL.md").open("wb") as fh:
        fh.write(b"---\nname: sparse-md\ndescription: d\n---\n")
        fh.truncate(200 * 2**20)
    assert server.proc is not None

    def peak_rss_mb() -> float:
        status = Path(f"/proc/{server.proc.pid}/status").read_text()  # type: ignore[union-attr]
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024

    before = peak_rss_mb()
    skills = {s["name"]: s for s in http.get("/api/skills").json()}
    assert skills["sparse-md"]["error"] == "SKILL.md is larger than 256 KB"
    assert peak_rss_mb() - before < 100  # reading it whole took 200 MB as bytes, as much again as text, and more
    got = http.get("/api/skills/sparse-md")  # nor is it sent whole: it cannot be saved back anyway
    assert got.status_code == 422 and "larger than 256 KB" in got.json()["detail"]
    assert peak_rss_mb() - before < 100


def test_a_script_that_is_not_python_is_named_in_the_error(tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "broken.py"
    script.parent.mkdir()
    script.write_text("def ok():\n    return (\n")
    with pytest.raises(SkillError, match=r"^scripts/broken.py: cannot be parsed: '\(' was never closed"):
        python_tool_names(script)
    script.write_text("def ok():\n    return 1\n\ndef _hidden():\n    pass\n\nasync def later():\n    pass\n")
    assert python_tool_names(script) == ["ok", "later"]  # a changed file is parsed again


# --- 3. parallel enables and disables all persist -------------------------------------------------------------------


def test_parallel_enables_and_disables_all_persist(http: httpx.Client, server: ServerProcess) -> None:
    names = [f"par-{n}" for n in range(8)]
    for index, name in enumerate(names):  # each with a script: the check in a thread takes a while
        make_skill(server, name, {"scripts/tools.py": f"def tool_{index}():\n    return {index}\n"})

    def call(action: tuple[str, str]) -> httpx.Response:
        name, verb = action
        with httpx.Client(base_url=server.base_url, headers=server.admin_headers(), timeout=30) as client:
            return client.post(f"/api/skills/{name}/{verb}")

    for _round in range(3):
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(call, [(n, "enable") for n in names]))
        assert [a.json() for a in answers] == [{"name": n, "enabled": True} for n in names]
        assert enabled_skills(http) >= set(names)
        mixed = [(n, "disable" if i % 2 else "enable") for i, n in enumerate(names)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(call, mixed))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        on = enabled_skills(http)
        assert {n for n in names if n in on} == set(names[::2])
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(call, [(n, "disable") for n in names]))
        assert not enabled_skills(http) & set(names)


# --- 4. workflow values stay text wherever the placeholder stands ---------------------------------------------------


def workflow_with(command: str, param: str = "text") -> str:
    """A workflow of one execute_cli step running ``command`` (kept exactly, as a YAML block scalar)."""
    head = f"params:\n  {param}: {{required: true}}\nsteps:\n  - tool: execute_cli\n    args:\n      command: |-\n"
    return head + "".join(f"        {line}\n" for line in command.split("\n"))


def filled(template: str, **params: str) -> str:
    """``template`` as the command a workflow step runs with ``params``."""
    (name,) = params
    return str(bind(parse_workflow(workflow_with(template, name), "wf"), params)[0].args["command"])


PAYLOADS = [
    'x"; echo INJ2 "',
    "'; echo INJ3 '",
    "$(echo INJ4)",
    "`echo INJ5`",
    "back\\slash\\",
    '\\"; echo INJ6; "',
    "two\nlines; echo INJ7",
    "$HOME ${HOME} $'\\x27'",
    "'\"'\"'; echo INJ8",
    "a\\'b",
    "",
    "  spaced  *  out ",
]

TEMPLATES = [
    ("printf %s {{text}}", "{}"),
    ('printf %s "inside dq: {{text}}"', "inside dq: {}"),
    ("printf %s 'inside sq: {{text}}'", "inside sq: {}"),
    ("printf %s $'ansi-c: {{text}}'", "ansi-c: {}"),
    ("printf %s \\$'{{text}}'", "${}"),  # an escaped $: the quote after it is a plain single quote
    ('printf %s "$(printf %s {{text}})"', "{}"),
    ('printf %s "$(printf %s "nested {{text}}")"', "nested {}"),
    ("printf %s \"a\"{{text}}'b' 'c'\"{{text}}\"'d'", "a{0}bc{0}d"),
    ("[[ -n {{text}}x ]] && printf %s {{text}}", "{}"),
    ("printf %s 'first line'\nprintf %s \"{{text}}\"", "first line{}"),
]


@pytest.mark.parametrize(("template", "expected"), TEMPLATES)
def test_a_workflow_value_reaches_bash_as_text_wherever_it_stands(template: str, expected: str) -> None:
    for payload in PAYLOADS:
        command = filled(template, text=payload)
        ran = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=10, check=False)
        want = expected.format(payload)
        if "$(" in template:
            want = want.rstrip("\n")  # what $(...) does to trailing newlines, not the quoting
        assert (ran.stdout, ran.stderr) == (want, ""), (template, payload, command)


@pytest.mark.parametrize(
    ("template", "where"),
    [
        ("echo `echo {{text}}`", "inside backticks"),
        ("echo ${x:-{{text}}}", "inside ${...}"),
        ("echo ${{text}}", "right after a $"),
        ("echo \\{{text}}", "right after a backslash"),
        ('echo "\\{{text}}"', "right after a backslash"),
        ("echo hi # {{text}}", "in a comment"),
        ("cat <<EOF\n{{text}}\nEOF", "after a here-document"),
    ],
)
def test_a_placeholder_where_no_quoting_keeps_it_text_refuses_the_workflow(template: str, where: str) -> None:
    workflow_yaml = workflow_with(template)
    with pytest.raises(SkillError, match=rf"^workflow wf step 1: \{{\{{text\}}\}} stands {re.escape(where)}"):
        parse_workflow(workflow_yaml, "wf")


@pytest.mark.parametrize(
    "template",
    ["echo $(( {{n}} + 1 ))", "(( {{n}} > 1 )) && echo big", "[[ {{n}} -eq 3 ]] && echo three",
     'echo "$(( $(echo {{n}}) ))"'],
)  # fmt: skip
def test_in_shell_arithmetic_only_a_whole_number_is_accepted(template: str) -> None:
    # bash evaluates a[$(cmd)] in arithmetic, quoted or not, and assigns PATH=0: shell quoting cannot help there
    for hostile in ("a[$(echo INJ >&2)]", "PATH=0", "1+1"):
        with pytest.raises(SkillError, match="only a whole number is safe"):
            filled(template, n=hostile)
    assert "41" in filled(template, n="41")
    # a string comparison is no arithmetic: there the quoted value is text
    assert filled("[[ {{n}} == a ]] && echo y", n="a[$(x)]") == "[[ 'a[$(x)]' == a ]] && echo y"


async def test_the_injection_payload_prints_as_text_in_a_real_workflow_run(env: Env, events: RecordingEvents) -> None:
    folder = env.state / "skills" / "echoer"
    (folder / "workflows").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: echoer\ndescription: Echoes\nskill_type: workflow\n---\nbody\n")
    (folder / "workflows" / "say.yaml").write_text(
        "params:\n  text: {required: true}\nsteps:\n"
        "  - tool: execute_cli\n    args: {command: 'echo \"inside dq: {{text}}\"'}\n"
    )
    env.settings = env.settings.model_copy(update={"enabled_skills": ["echoer"]})
    payload = 'x"; echo INJ2 "'
    env.script(
        [
            {"tool": "execute_skill", "args": {"skill_name": "echoer", "params": {"text": payload}}},
            {"text": "done"},
        ]
    )
    result = await run_intent(env.service(), "say it", events)
    assert result.status == "completed", result.answer
    (outcome,) = events.of("tool_result")
    assert outcome["status"] == "success", outcome
    assert outcome["stdout"] == f"inside dq: {payload}\n", outcome


# --- 5. YAML errors name the line of the file -----------------------------------------------------------------------


def test_a_yaml_error_in_skill_md_names_the_line_of_the_file(http: httpx.Client, server: ServerProcess) -> None:
    folder = server.home / "skills" / "bad-yaml"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: bad-yaml\ndescription: [unclosed\n---\nbody\n")
    error = {s["name"]: s for s in http.get("/api/skills").json()}["bad-yaml"]["error"]
    assert "not valid YAML" in error
    assert "line 3, column 14:\n    description: [unclosed" in error, error
    assert "line 2" not in error
