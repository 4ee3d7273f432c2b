from contop.core import pathres
from contop.core.pathres import expand_path, is_within


def test_posix_expansion() -> None:
    kw = {"cwd": "/home/u/proj", "home": "/home/u"}
    assert expand_path("~/.ssh/id_rsa", **kw) == "/home/u/.ssh/id_rsa"
    assert expand_path("$HOME/.aws", **kw) == "/home/u/.aws"
    assert expand_path("${HOME}//.gnupg/", **kw) == "/home/u/.gnupg"
    assert expand_path("../../../root/x", **kw) == "/root/x"
    assert expand_path("notes.txt", **kw) == "/home/u/proj/notes.txt"
    assert expand_path("//etc//shadow", **kw) == "/etc/shadow"


def test_windows_expansion() -> None:
    kw = {"cwd": "C:\\Users\\u\\proj", "home": "C:\\Users\\u", "windows": True}
    assert expand_path("%USERPROFILE%\\.ssh", **kw) == "C:\\Users\\u\\.ssh"
    assert expand_path("%userprofile%/.aws/credentials", **kw) == "C:\\Users\\u\\.aws\\credentials"
    assert expand_path("~/x", **kw) == "C:\\Users\\u\\x"
    assert expand_path("..\\..\\..\\Windows\\System32", **kw) == "C:\\Windows\\System32"


def test_is_within_is_component_wise() -> None:
    assert is_within("/root", "/root")
    assert is_within("/root/a", "/root")
    assert not is_within("/rootfs", "/root")
    assert not is_within("/home/u/.sshrc", "/home/u/.ssh")
    assert is_within("c:\\windows\\system32\\drivers", "C:\\Windows\\System32", windows=True)
    assert not is_within("C:\\Windows\\System32x", "C:\\Windows\\System32", windows=True)


def test_extra_variables_come_from_env() -> None:
    kw = {"cwd": "C:\\Users\\u", "home": "C:\\Users\\u", "windows": True}
    env = {"LOCALAPPDATA": "C:\\Users\\u\\AppData\\Local"}
    assert expand_path("%localappdata%\\Google", env=env, **kw) == "C:\\Users\\u\\AppData\\Local\\Google"
    assert expand_path("%UNKNOWN%\\x", **kw) == "C:\\Users\\u\\%UNKNOWN%\\x"
    assert expand_path("$HOME/x", cwd="/", home="/home/u", env={"HOME": "/elsewhere"}) == "/home/u/x"


def test_windows_shortcut_gives_what_ntpath_gives() -> None:
    """Paths that are already normal skip ntpath; on 200k random paths and working directories the answer is the
    same as ntpath's join + normpath (the code before the shortcut)."""
    import ntpath
    import random

    def reference(raw: str, cwd: str) -> str:
        path = raw.strip().replace("/", "\\")
        if not ntpath.isabs(path):
            path = ntpath.join(cwd.replace("/", "\\"), path)
        return ntpath.normpath(path)

    rng = random.Random(7)
    parts = ["a", "b.txt", ".ssh", ".", "..", "...", "\\", "/", "C:", "d:", ":", " ", "x y", "\n", "\\\\", "~a", "é"]
    cwds = ["C:\\Users\\u\\proj", "C:/Users/u", "C:\\", "C:\\a\\..\\b", "D:\\x\\", "\\\\srv\\share\\d", "rel\\dir"]
    cwds.append("C:")
    shortcut = 0
    for _ in range(200_000):
        raw = "".join(rng.choice(parts) for _ in range(rng.randrange(1, 7)))
        cwd = rng.choice(cwds)
        got = expand_path(raw, cwd=cwd, home="C:\\Users\\u", windows=True)
        assert got == reference(raw, cwd), (raw, cwd)
        path = raw.strip().replace("/", "\\")
        shortcut += bool(pathres._WIN_NORMAL.fullmatch(path) or pathres._WIN_RELATIVE.fullmatch(path))
    assert shortcut > 10_000  # the shortcut's cases were well represented
