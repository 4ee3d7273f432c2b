"""Windows paths the gate must see through: paths PowerShell builds at run time, Win32 prefixes and name quirks,
and the ways cmd.exe reads a file without naming a reader."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contop.security.decision import GateContext
from contop.security.gate import classify_command
from contop.security.paths import use_resolver
from tests.security.corpus_support import windows_context


@pytest.fixture(autouse=True)
def _no_symlinks():
    with use_resolver(None):
        yield


def ps(command: str, ctx: GateContext | None = None) -> str:
    return classify_command(command, ctx or windows_context("powershell")).verdict


def cmd(command: str, ctx: GateContext | None = None) -> str:
    return classify_command(command, ctx or windows_context("cmd")).verdict


def only_always_protected(platform: str) -> GateContext:
    """No restricted list: ``C:\\Windows`` is not protected as a whole, so a read of the SAM hive is caught by the
    entry for the hive itself, which only a path normalised as Windows opens it can reach."""
    return replace(windows_context(platform), restricted_paths=())


@pytest.mark.parametrize(
    "command",
    [
        "Get-Content (Join-Path $HOME '.ssh\\id_rsa')",
        "Get-Content (Join-Path $env:USERPROFILE .ssh/id_rsa)",
        "Get-Content -Path (Join-Path -Path $HOME -ChildPath '.ssh' -AdditionalChildPath 'id_rsa')",
        "gc (Join-Path (Join-Path $HOME '.ssh') 'id_rsa')",
        "gc ([IO.Path]::Combine($HOME,'.ssh','id_rsa'))",
        "gc ([System.IO.Path]::Combine($env:USERPROFILE, '.ssh\\id_rsa'))",
        '[System.IO.File]::ReadAllText("$HOME\\.ssh\\id_rsa")',
        "[IO.File]::ReadAllBytes((Join-Path $HOME '.ssh\\id_rsa'))",
        "$p = \"$env:USERPROFILE\" + '\\.ssh\\id_rsa'; gc $p",
        "$p = $HOME; $p += '\\.ssh\\id_rsa'; Get-Content $p",
        "$d = Join-Path $HOME '.ssh'; gc (Join-Path $d 'id_rsa')",
        "gc ([Environment]::GetFolderPath('UserProfile') + '\\.ssh\\id_rsa')",
        "gc (Join-Path $env:LOCALAPPDATA 'Google\\Chrome\\User Data\\Default\\Login Data')",
        'gc "$($HOME)\\.ssh\\id_rsa"',
    ],
)
def test_a_path_powershell_builds_is_judged_as_the_path_it_makes(command: str) -> None:
    assert ps(command) == "block"


@pytest.mark.parametrize(
    "command",
    [
        "Get-Content (Join-Path $HOME $name)",
        "gc ([IO.Path]::Combine($HOME, $x))",
        "$p = $HOME + $rest; gc $p",
        "gc (Join-Path $env:LOCALAPPDATA $x)",  # holds the browsers' saved passwords
        'gc "$HOME\\$(Get-Random)"',
    ],
)
def test_a_built_path_known_only_in_part_asks_when_its_known_part_holds_protected_files(command: str) -> None:
    assert ps(command) == "confirm"


def test_a_built_path_inside_a_protected_folder_blocks_whatever_the_rest() -> None:
    assert ps('gc (Join-Path $HOME ".ssh\\$name")') == "block"


@pytest.mark.parametrize(
    "command",
    [
        "Get-ChildItem",
        "gc .\\notes.txt",
        "Join-Path $PWD 'out'",
        "Get-Content (Join-Path $PWD 'notes.txt')",
        "gc ([IO.Path]::Combine($PWD, 'data', 'x.csv'))",
        "$p = 'a' + 'b.txt'; gc $p",
        "Get-Content (Join-Path $x 'id_rsa')",  # nothing of it known: nothing to say
        "$log = Join-Path $HOME \"log-$stamp.txt\"; Add-Content $log 'done'",  # a new name in the home folder
        "gci $env:TEMP | % { $_.FullName }",
        "type readme.txt",
        "dir C:\\Users\\me\\Documents",
        "Get-Content C:\\Users\\u\\DOCUME~1\\notes.txt",
    ],
)
def test_everyday_powershell_stays_safe(command: str) -> None:
    assert ps(command) == "safe"


@pytest.mark.parametrize(
    "path",
    [
        "\\\\?\\C:\\Windows\\System32\\config\\SAM",
        "\\\\.\\C:\\Windows\\System32\\config\\SAM",
        "\\??\\C:\\Windows\\System32\\config\\SAM",
        "\\\\?\\UNC\\localhost\\c$\\Windows\\System32\\config\\SAM",
        "\\\\localhost\\C$\\Windows\\System32\\config\\SAM",
        "\\\\127.0.0.1\\c$\\Windows\\System32\\config\\SAM",
        "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy1\\Windows\\System32\\config\\SAM",
        "C:\\Windows\\System32\\config\\SAM.",
        '"C:\\Windows\\System32\\config\\SAM. . "',
        "C:\\Windows\\System32\\config\\SAM::$DATA",
        "C:\\Windows\\System32\\config\\SAM:x",
        "C:\\Windows\\System32\\config.\\SAM",
        "C:\\WINDOW~1\\System32\\config\\SAM",
        "C:\\Windows\\SYSTEM~1\\config\\SAM",
        "c:\\WINDOWS\\system32\\CONFIG\\sam",
        "C:/Windows/System32/config/SAM",
    ],
)
@pytest.mark.parametrize("platform", ["cmd", "powershell"])
def test_win32_prefixes_and_name_quirks_reach_the_real_path(path: str, platform: str) -> None:
    assert classify_command(f"type {path}", only_always_protected(platform)).verdict == "block"


@pytest.mark.parametrize(
    "path",
    [
        "C:\\Users\\u\\.ssh\\id_rsa::$DATA",
        "C:\\Users\\u\\.ssh.\\id_rsa",
        "C:\\Users\\u\\.ssh::$INDEX_ALLOCATION\\id_rsa",
        "C:\\Users\\u\\SSH~1\\id_rsa",
        "C:\\Users\\u\\SS1F2A~5\\id_rsa",  # the hashed form Windows uses after four names with the same start
        '"C:\\Users\\u\\AppData\\Local\\Google\\Chrome\\USERDA~1\\Default\\Login Data"',
        "\\\\?\\C:\\Users\\u\\.ssh\\id_rsa",
    ],
)
def test_home_secrets_behind_quirks_are_protected(path: str) -> None:
    assert cmd(f"type {path}") == "block"


def test_a_short_name_for_a_system_tree_is_that_tree() -> None:
    assert cmd("rd /s /q C:\\PROGRA~1") == "block"
    assert cmd('rd /s /q "\\\\?\\C:\\Program Files"') == "block"
    assert cmd("rd /s /q \\\\?\\C:\\Windows") == "block"


@pytest.mark.parametrize(
    "command",
    [
        "set /p x=<C:\\Users\\u\\.ssh\\id_rsa",
        'set /p x=<"C:\\Users\\u\\.ssh\\id_rsa"',
        "set /p x=<%USERPROFILE%\\.ssh\\id_rsa",
        "for /f %a in (C:\\Users\\u\\.ssh\\id_rsa) do @echo %a",
        'for /f "usebackq" %a in ("C:\\Users\\u\\.ssh\\id_rsa") do @echo %a',
        "for /f %a in ('type C:\\Users\\u\\.ssh\\id_rsa') do @echo %a",
        'for /f "usebackq" %a in (`type C:\\Users\\u\\.ssh\\id_rsa`) do @echo %a',
        "ty^pe C:\\Users\\u\\.ssh\\id_rsa",
        "type %USERPROFILE%\\.ssh\\id_rsa",
        "type %HOMEDRIVE%%HOMEPATH%\\.ssh\\id_rsa",
        "type C:\\Users\\%USERNAME%\\.ssh\\id_rsa",
        "sort<C:\\Users\\u\\.ssh\\id_rsa",
        "echo x>C:\\Users\\u\\.ssh\\authorized_keys",
    ],
)
def test_cmd_reads_of_protected_files_are_caught(command: str) -> None:
    assert cmd(command) == "block"


@pytest.mark.parametrize(
    "command",
    [
        "type readme.txt",
        "dir C:\\Users\\me\\Documents",
        "set /p x=<notes.txt",
        "for /f %a in (notes.txt) do @echo %a",
        "for /f \"tokens=*\" %a in ('dir /b') do @echo %a",
        "dir>nul 2>&1",
        "echo hello > out.txt",
        "dir C:\\PROGRA~1",
    ],
)
def test_everyday_cmd_stays_safe(command: str) -> None:
    assert cmd(command) == "safe"
