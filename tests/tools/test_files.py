"""read_file, edit_file and find_files on real files in tmp_path."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from contop.core.errors import ToolError
from contop.tools import files
from contop.tools.context import ToolContext
from contop.tools.files import TOOLS, compile_glob, edit_file, find_files, read_file
from contop.tools.textcodec import looks_binary

RESULT_KEYS = {"status", "stdout", "stderr", "exit_code", "duration_ms"}


def _assert_success(result: dict[str, object]) -> None:
    assert RESULT_KEYS <= result.keys()
    assert result["status"] == "success"
    assert result["exit_code"] == 0
    assert result["stderr"] == ""
    assert isinstance(result["duration_ms"], int) and result["duration_ms"] >= 0


def test_tools_table() -> None:
    assert TOOLS == {"read_file": read_file, "edit_file": edit_file, "find_files": find_files}


# ------------------------------------------------------------------------------------------------ read_file


async def test_read_file_numbers_lines(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("alpha\nbeta\r\ngamma", encoding="utf-8")
    result = await read_file(ctx, str(target))
    _assert_success(result)
    assert result["stdout"] == "     1\talpha\n     2\tbeta\n     3\tgamma"


async def test_read_file_offset_and_limit(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "many.txt"
    target.write_text("".join(f"line {i}\n" for i in range(1, 501)), encoding="utf-8")
    default = (await read_file(ctx, str(target)))["stdout"]
    assert default.splitlines()[0] == "     1\tline 1"
    assert "   200\tline 200" in default and "line 201" not in default
    assert "call again with offset=200" in default
    page = (await read_file(ctx, str(target), offset=10, limit=3))["stdout"]
    assert page.splitlines()[:3] == ["    11\tline 11", "    12\tline 12", "    13\tline 13"]
    assert "offset=13" in page
    tail = (await read_file(ctx, str(target), offset=498, limit=10))["stdout"]
    assert tail == "   499\tline 499\n   500\tline 500"
    past = (await read_file(ctx, str(target), offset=900))["stdout"]
    assert "past the end" in past and "500 lines" in past


async def test_read_file_relative_to_cwd_and_home(ctx: ToolContext) -> None:
    Path(ctx.cwd, "sub").mkdir()
    Path(ctx.cwd, "sub", "a.txt").write_text("from cwd\n")
    Path(ctx.home, "h.txt").write_text("from home\n")
    assert "from cwd" in (await read_file(ctx, "sub/a.txt"))["stdout"]
    assert "from cwd" in (await read_file(ctx, "./sub/../sub/a.txt"))["stdout"]
    assert "from home" in (await read_file(ctx, "~/h.txt"))["stdout"]
    assert "from home" in (await read_file(ctx, "$HOME/h.txt"))["stdout"]


async def test_read_file_empty(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    assert (await read_file(ctx, str(tmp_path / "empty.txt")))["stdout"] == "(empty file)"


async def test_read_file_utf8_and_long_lines(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "wide.txt"
    target.write_text("héllo wörld ✓\n" + "x" * 50_000 + "\nafter\n", encoding="utf-8")
    out = (await read_file(ctx, str(target)))["stdout"]
    lines = out.splitlines()
    assert lines[0] == "     1\théllo wörld ✓"
    assert "line cut at" in lines[1] and len(lines[1]) < 2100
    assert lines[2] == "     3\tafter"


async def test_read_file_output_capped(ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_READ_BYTES", 100)
    target = tmp_path / "big.txt"
    target.write_text("".join(f"{i:04d} some text here\n" for i in range(100)))
    out = (await read_file(ctx, str(target), limit=100))["stdout"]
    assert "output size limit reached" in out
    assert len(out) < 300


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "File not found"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))), "binary"),
    ],
    ids=["missing", "directory", "binary"],
)
async def test_read_file_errors(ctx: ToolContext, tmp_path: Path, setup: object, message: str) -> None:
    target = tmp_path / "thing"
    setup(target)  # type: ignore[operator]
    with pytest.raises(ToolError, match=message):
        await read_file(ctx, str(target))


async def test_read_file_bad_arguments(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    with pytest.raises(ToolError, match="offset"):
        await read_file(ctx, str(tmp_path / "a.txt"), offset=-1)
    with pytest.raises(ToolError, match="limit"):
        await read_file(ctx, str(tmp_path / "a.txt"), limit=0)
    with pytest.raises(ToolError, match="path is required"):
        await read_file(ctx, "  ")


def test_looks_binary() -> None:
    assert not looks_binary(b"")
    assert not looks_binary("plain text ✓\n".encode())
    assert not looks_binary("cut ✓".encode()[:-1])  # a character split at the sample's end
    assert looks_binary(b"abc\x00def")
    assert looks_binary(bytes(range(1, 32)) * 10)
    assert not looks_binary("latin-1 caf\xe9 text".encode("latin-1"))


# ------------------------------------------------------------------------------------------------ edit_file


async def test_edit_file_replaces_once_and_keeps_mode(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "script.sh")
    target.write_text("#!/bin/sh\necho hello\necho bye\n")
    target.chmod(0o751)
    result = await edit_file(ctx, "script.sh", "echo hello", "echo hi")
    _assert_success(result)
    assert str(result["stdout"]).startswith("Edit applied successfully")
    assert target.read_text() == "#!/bin/sh\necho hi\necho bye\n"
    assert target.stat().st_mode & 0o7777 == 0o751
    assert sorted(p.name for p in Path(ctx.cwd).iterdir()) == ["script.sh"]  # no temp file left behind


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give files away")
async def test_edit_file_keeps_owner(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "owned.txt")
    target.write_text("a\n")
    os.chown(target, 4321, 4321)
    await edit_file(ctx, "owned.txt", "a", "b")
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (4321, 4321)


async def test_edit_file_ambiguous_and_replace_all(ctx: ToolContext) -> None:
    target = Path(ctx.home, "conf.ini")
    target.write_text("x=1\ny=1\nz=1\n")
    with pytest.raises(ToolError, match="occurs 3 times"):
        await edit_file(ctx, "~/conf.ini", "=1", "=2")
    assert target.read_text() == "x=1\ny=1\nz=1\n"
    result = await edit_file(ctx, "~/conf.ini", "=1", "=2", replace_all=True)
    assert "3 occurrences" in str(result["stdout"])
    assert target.read_text() == "x=2\ny=2\nz=2\n"


async def test_edit_file_errors(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "a.txt")
    target.write_text("hello world\n")
    with pytest.raises(ToolError, match="not found"):
        await edit_file(ctx, "a.txt", "goodbye", "x")
    with pytest.raises(ToolError, match="empty"):
        await edit_file(ctx, "a.txt", "", "x")
    with pytest.raises(ToolError, match="identical"):
        await edit_file(ctx, "a.txt", "hello", "hello")
    with pytest.raises(ToolError, match="File not found"):
        await edit_file(ctx, "missing.txt", "a", "b")
    with pytest.raises(ToolError, match="is a directory"):
        await edit_file(ctx, ".", "a", "b")
    Path(ctx.cwd, "blob.bin").write_bytes(b"\x00\x01hello")
    with pytest.raises(ToolError, match="binary"):
        await edit_file(ctx, "blob.bin", "hello", "bye")
    assert target.read_text() == "hello world\n"


async def test_edit_file_too_large(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_EDIT_BYTES", 10)
    Path(ctx.cwd, "a.txt").write_text("hello world, long enough\n")
    with pytest.raises(ToolError, match="too large"):
        await edit_file(ctx, "a.txt", "hello", "bye")


async def test_edit_file_failure_leaves_original(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    target = Path(ctx.cwd, "keep.txt")
    target.write_text("original\n")
    target.chmod(0o640)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(ToolError, match="left unchanged"):
        await edit_file(ctx, "keep.txt", "original", "changed")
    monkeypatch.undo()
    assert target.read_text() == "original\n"
    assert target.stat().st_mode & 0o7777 == 0o640
    assert [p.name for p in Path(ctx.cwd).iterdir()] == ["keep.txt"]


async def test_edit_file_through_symlink_keeps_link(ctx: ToolContext) -> None:
    real = Path(ctx.home, "real.txt")
    real.write_text("one\n")
    link = Path(ctx.cwd, "link.txt")
    link.symlink_to(real)
    await edit_file(ctx, "link.txt", "one", "two")
    assert link.is_symlink()
    assert real.read_text() == "two\n"


async def test_edit_file_crlf_file(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "win.txt")
    target.write_bytes(b"first\r\nsecond\r\nthird\r\n")
    await edit_file(ctx, "win.txt", "first\nsecond", "1st\n2nd")
    assert target.read_bytes() == b"1st\r\n2nd\r\nthird\r\n"


async def test_edit_file_multiline_and_unicode(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "code.py")
    target.write_text("def f():\n    return 'é'\n\n\ndef g():\n    return 1\n", encoding="utf-8")
    await edit_file(ctx, "code.py", "def g():\n    return 1", "def g():\n    return '✓'")
    assert target.read_text(encoding="utf-8").endswith("def g():\n    return '✓'\n")


# ----------------------------------------------------------------------------------------------- find_files


@pytest.fixture
def tree(ctx: ToolContext) -> Path:
    root = Path(ctx.cwd)
    for rel, content in {
        "main.py": "print('hello')\n",
        "README.md": "# title\nTODO: write docs\n",
        "src/app/core.py": "import os\n# TODO refactor\n",
        "src/app/util.ts": "export const x = 1;\n",
        "src/web/index.ts": "console.log('TODO');\n",
        "docs/guide.txt": "guide\n",
        "node_modules/pkg/index.ts": "// TODO\n",
        ".git/config": "[core]\n",
        "data/blob.bin": "\x00TODO\x00",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _listed(result: dict[str, object]) -> list[str]:
    return [line.split(":", 1)[0] for line in str(result["stdout"]).splitlines()[1:] if not line.startswith("[")]


async def test_find_files_name_pattern_recurses(ctx: ToolContext, tree: Path) -> None:
    result = await find_files(ctx, "*.py")
    _assert_success(result)
    assert _listed(result) == [str(tree / "main.py"), str(tree / "src/app/core.py")]
    assert str(result["stdout"]).startswith(f"Found 2 files matching '*.py' in {tree}")


async def test_find_files_path_globs(ctx: ToolContext, tree: Path) -> None:
    assert _listed(await find_files(ctx, "src/**/*.ts")) == [
        str(tree / "src/app/util.ts"),
        str(tree / "src/web/index.ts"),
    ]
    assert _listed(await find_files(ctx, "**/*.ts")) == [str(tree / "src/app/util.ts"), str(tree / "src/web/index.ts")]
    assert _listed(await find_files(ctx, "src/*/core.py")) == [str(tree / "src/app/core.py")]
    assert _listed(await find_files(ctx, "./docs/*.txt")) == [str(tree / "docs/guide.txt")]
    # Noisy folders are searched only when the pattern names them.
    assert _listed(await find_files(ctx, "node_modules/**/*.ts")) == [str(tree / "node_modules/pkg/index.ts")]


async def test_find_files_path_argument(ctx: ToolContext, tree: Path) -> None:
    assert _listed(await find_files(ctx, "*.ts", path="src/web")) == [str(tree / "src/web/index.ts")]
    Path(ctx.home, "h.md").write_text("x")
    assert _listed(await find_files(ctx, "*.md", path="~")) == [str(Path(ctx.home, "h.md"))]
    assert _listed(await find_files(ctx, "*.py", path=str(tree / "src"))) == [str(tree / "src/app/core.py")]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("/etc/*", "absolute path"), ("~/*.md", "absolute path"), ("../*", "goes up"), ("src/../../*", "goes up")],
)
async def test_find_files_pattern_stays_inside_path(ctx: ToolContext, tree: Path, pattern: str, message: str) -> None:
    # The gate judges 'path'; a pattern must not be able to search somewhere else.
    with pytest.raises(ToolError, match=message):
        await find_files(ctx, pattern)


async def test_find_files_search_text(ctx: ToolContext, tree: Path) -> None:
    result = await find_files(ctx, "*", search_text="TODO")
    lines = str(result["stdout"]).splitlines()
    assert lines[0].startswith("Found 3 files matching '*' containing 'TODO'")
    assert lines[1:] == [
        f"{tree / 'README.md'}:2: TODO: write docs",
        f"{tree / 'src/app/core.py'}:2: # TODO refactor",
        f"{tree / 'src/web/index.ts'}:1: console.log('TODO');",
    ]


async def test_find_files_max_results_and_none(ctx: ToolContext, tree: Path) -> None:
    result = await find_files(ctx, "*", max_results=2)
    assert len(_listed(result)) == 2
    assert "more exist" in str(result["stdout"])
    empty = await find_files(ctx, "*.rs")
    _assert_success(empty)
    assert str(empty["stdout"]).startswith("No files matching '*.rs'")
    with pytest.raises(ToolError, match="max_results"):
        await find_files(ctx, "*", max_results=0)
    with pytest.raises(ToolError, match="pattern is required"):
        await find_files(ctx, "")


async def test_find_files_bad_root(ctx: ToolContext, tree: Path) -> None:
    with pytest.raises(ToolError, match="Directory not found"):
        await find_files(ctx, "*", path="nowhere")
    with pytest.raises(ToolError, match="not a directory"):
        await find_files(ctx, "*", path="main.py")


async def test_find_files_symlinks_loops_and_limits(
    ctx: ToolContext, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree / "src/app/loop").symlink_to(tree / "src")
    (tree / "self").symlink_to(tree)
    outside = Path(ctx.home, "secret")
    outside.mkdir()
    (outside / "key.py").write_text("TODO secret\n")
    (tree / "escape").symlink_to(outside)  # a symlinked folder is not entered
    (tree / "linked.py").symlink_to(outside / "key.py")  # a symlinked file is listed, never read
    result = await find_files(ctx, "*.py")
    assert _listed(result) == [str(tree / "linked.py"), str(tree / "main.py"), str(tree / "src/app/core.py")]
    texts = _listed(await find_files(ctx, "*.py", search_text="secret"))
    assert texts == []
    monkeypatch.setattr(files, "FIND_MAX_ENTRIES", 3)
    limited = await find_files(ctx, "*")
    assert "stopped early" in str(limited["stdout"])


async def test_find_files_deep_tree(ctx: ToolContext) -> None:
    deep = Path(ctx.cwd)
    for _ in range(1100):  # deeper than Python's recursion limit
        deep = deep / "d"
        os.mkdir(deep)
    (deep / "bottom.txt").write_text("x")
    try:
        assert _listed(await find_files(ctx, "bottom.txt")) == [str(deep / "bottom.txt")]
    finally:  # pytest's tmp_path cleanup (shutil.rmtree) recurses and would fail on this tree
        (deep / "bottom.txt").unlink()
        for _ in range(1100):
            os.rmdir(deep)
            deep = deep.parent


async def test_find_files_skips_unreadable_dirs(ctx: ToolContext, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_scandir = os.scandir
    blocked = str(tree / "src" / "web")

    def scandir(path: str) -> object:
        if str(path) == blocked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(files.os, "scandir", scandir)
    result = await find_files(ctx, "*.ts")
    assert _listed(result) == [str(tree / "src/app/util.ts")]
    assert "1 unreadable folder(s) skipped" in str(result["stdout"])


def test_compile_glob() -> None:
    assert compile_glob("*.py").match("a/b/c.py")
    assert compile_glob("*.py").match("c.py")
    assert not compile_glob("*.py").match("c.pyc")
    assert compile_glob("src/**/*.ts").match("src/x.ts")
    assert compile_glob("src/**/*.ts").match("src/a/b/x.ts")
    assert not compile_glob("src/*.ts").match("src/a/x.ts")
    assert compile_glob("file?.[ch]").match("dir/file1.c")
    assert not compile_glob("[!a]*").match("abc")
    assert compile_glob("*.PY", ignore_case=True).match("x.py")
    assert compile_glob("a+b(1).txt").match("a+b(1).txt")


@pytest.fixture
def above_state(tmp_path: Path) -> tuple[ToolContext, Path]:
    """A context whose real state directory (with its admin.token) lies below a folder we can search from."""
    root = tmp_path / "root"
    home = root / "home"
    state = home / ".contop"
    state.mkdir(parents=True)
    (state / "admin.token").write_text("secret-admin-token-e\n")
    (state / "settings.json").write_text('{"openai_api_key": "sk-e"}\n')
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY e\n")
    (root / "notes").mkdir()
    (root / "notes" / "admin.token").write_text("an ordinary file named like it, e\n")
    ctx = ToolContext(session_id="t", state_dir=state, home=str(home), cwd=str(root))
    return ctx, root


async def test_find_files_never_lists_or_reads_the_state_directory(above_state: tuple[ToolContext, Path]) -> None:
    ctx, root = above_state
    result = await find_files(ctx, "**/admin.token", search_text="e", path=str(root))
    _assert_success(result)
    stdout = str(result["stdout"])
    assert "secret-admin-token" not in stdout and ".contop" not in stdout
    assert _listed(result) == [str(root / "notes" / "admin.token")]
    assert result["skipped_protected"] == 2  # the state directory and ~/.ssh, never entered
    assert "2 protected file(s) or folder(s) skipped" in stdout


async def test_find_files_skips_home_secrets_and_the_users_restricted_paths(
    above_state: tuple[ToolContext, Path],
) -> None:
    ctx, root = above_state
    (root / "vault").mkdir()
    (root / "vault" / "plan.txt").write_text("e\n")
    (root / "notes" / "plan.txt").write_text("e\n")
    ctx.restricted_paths = (str(root / "vault"),)
    result = await find_files(ctx, "*", path=str(root))
    listed = _listed(result)
    assert str(root / "notes" / "plan.txt") in listed
    assert not [p for p in listed if "/vault/" in p or "/.ssh/" in p or "/.contop/" in p]
    assert result["skipped_protected"] == 3  # vault, ~/.ssh, the state directory


async def test_find_files_skips_a_link_to_a_protected_file(above_state: tuple[ToolContext, Path]) -> None:
    ctx, root = above_state
    (root / "notes" / "token-link").symlink_to(Path(ctx.state_dir) / "admin.token")
    result = await find_files(ctx, "token-link", path=str(root / "notes"))
    assert _listed(result) == []
    assert result["skipped_protected"] == 1


async def test_find_files_from_inside_a_protected_folder_lists_nothing(above_state: tuple[ToolContext, Path]) -> None:
    ctx, _ = above_state
    result = await find_files(ctx, "*", path=str(ctx.state_dir))
    assert _listed(result) == [] and result["skipped_protected"] == 1
    assert "never listed or read" in str(result["stdout"])


# ------------------------------------------------------------------------------------ rewrites of one file


async def test_edit_file_parallel_edits_of_one_file_all_land(ctx: ToolContext) -> None:
    # The agent makes parallel tool calls; each edit reads the whole file and writes it back.
    target = Path(ctx.cwd, "settings.ini")
    target.write_text("".join(f"key{i}=old\n" for i in range(12)))
    link = Path(ctx.cwd, "link.ini")
    link.symlink_to(target)  # the same file under another name shares the lock
    results = await asyncio.gather(
        *(edit_file(ctx, "link.ini" if i % 3 == 0 else "settings.ini", f"key{i}=old", f"key{i}=new") for i in range(12))
    )
    assert all(str(r["stdout"]).startswith("Edit applied successfully") for r in results)
    assert target.read_text() == "".join(f"key{i}=new\n" for i in range(12))
    assert link.is_symlink()
    assert files._file_locks._locks == {}  # nothing held once done


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root ignores permissions: the point")
async def test_edit_file_refuses_a_read_only_file_even_as_root(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "frozen.txt")
    target.write_text("version = 1\n")
    target.chmod(0o444)
    with pytest.raises(ToolError, match=r"Permission denied: .*frozen\.txt is read-only \(mode 0444\)"):
        await edit_file(ctx, "frozen.txt", "version = 1", "version = 2")
    assert target.read_text() == "version = 1\n"
    assert target.stat().st_mode & 0o7777 == 0o444
    target.chmod(0o644)  # once writable, the same edit goes through and keeps the mode
    await edit_file(ctx, "frozen.txt", "version = 1", "version = 2")
    assert target.read_text() == "version = 2\n"
    assert target.stat().st_mode & 0o7777 == 0o644


async def test_edit_file_crlf_new_string_already_crlf(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "win.txt")
    target.write_bytes(b"first\r\nsecond\r\nthird\r\n")
    await edit_file(ctx, "win.txt", "first\nsecond", "one\r\ntwo\nthree")
    assert target.read_bytes() == b"one\r\ntwo\r\nthree\r\nthird\r\n"


async def test_a_path_with_a_nul_byte_is_refused_clearly(ctx: ToolContext) -> None:
    Path(ctx.cwd, "a.txt").write_text("x\n")
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: read_file(ctx, "a.txt\x00.png"),
        lambda: edit_file(ctx, "a\x00.txt", "x", "y"),
        lambda: find_files(ctx, "*.txt", path="work\x00"),
    ]
    for call in calls:
        with pytest.raises(ToolError) as caught:
            await call()
        assert "contains a NUL character (\\0), which no file name can hold" in str(caught.value)
    assert Path(ctx.cwd, "a.txt").read_text() == "x\n"


async def test_find_files_names_what_is_wrong_with_a_bad_set(ctx: ToolContext, tree: Path) -> None:
    with pytest.raises(ToolError) as caught:
        await find_files(ctx, "[z-a].txt")
    assert str(caught.value) == (
        "Invalid pattern '[z-a].txt': the character range 'z-a' in '[z-a]' goes backwards; "
        "write it low to high, as 'a-z'."
    )


def test_compile_glob_sets_are_literal_characters() -> None:
    # ']' first in a set is one of its characters; regex syntax inside a set means nothing special.
    assert compile_glob("[!]a]b").match("xb") and not compile_glob("[!]a]b").match("]b")
    assert compile_glob("[]a]").match("]")
    assert compile_glob("[[:a]").match(":") and compile_glob("[[:a]").match("[")
    assert compile_glob("[&&x]").match("&")
    assert compile_glob("[a-c-]").match("-")
    assert compile_glob("[\\]").match("\\")


async def test_a_wildcard_pattern_over_a_home_is_searched_with_its_secrets_skipped(
    above_state: tuple[ToolContext, Path],
) -> None:
    """`find_files` of `.*` in a home holding ~/.ssh: the gate lets it run (the pattern does not name ~/.ssh, it may
    match it) and the search skips and counts it, as README says; a pattern naming ~/.ssh is still refused."""
    from contop.core.defaults import default_restricted_paths
    from contop.security.decision import GateContext, ToolCall
    from contop.security.gate import decide

    ctx, _ = above_state
    gate = GateContext(
        cwd=ctx.home, home=ctx.home, state_dir=str(ctx.state_dir),
        restricted_paths=tuple(default_restricted_paths(str(ctx.state_dir))),
        forbidden_commands=(), destructive_patterns=(),
    )  # fmt: skip
    assert decide(ToolCall("find_files", {"pattern": ".*", "path": ctx.home}), gate).verdict == "safe"
    assert decide(ToolCall("find_files", {"pattern": ".ssh/*", "path": ctx.home}), gate).verdict == "block"
    result = await find_files(ctx, ".*", path=ctx.home)
    assert not [p for p in _listed(result) if "/.ssh" in p] and result["skipped_protected"] >= 1
