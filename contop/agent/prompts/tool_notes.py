"""Per-tool notes injected into the prompts, for the platform the server runs on (``platform.system()``)."""

from __future__ import annotations

from collections.abc import Iterable

# tool → {"_all" | "Linux" | "Darwin" | "Windows": note}
TOOL_NOTES: dict[str, dict[str, str]] = {
    "execute_cli": {
        "_all": "Runs one shell command in the session's working directory; `cd` persists between calls. "
        "Use non-interactive flags (-y, --yes); commands that wait for input or a password fail.",
        "Linux": "The shell is bash. Paths use forward slashes; the home folder is ~. Prefer xdg-open to open files.",
        "Darwin": "The shell is bash or zsh. Use `open` to open files and apps; Homebrew installs under /opt/homebrew.",
        "Windows": "The shell is Git Bash when installed (POSIX syntax, drive paths like /c/Users/...), otherwise "
        'cmd.exe. For PowerShell, run `powershell -NoProfile -Command "..."`.',
    },
    "read_file": {
        "_all": "Reads text files with line numbers; use offset/limit for large files instead of cat.",
        "Windows": "Paths may use backslashes or forward slashes; quote paths with spaces.",
    },
    "edit_file": {"_all": "Replaces an exact piece of text; read the file first so the old text matches exactly."},
    "find_files": {"_all": "Finds files by glob pattern under a folder (default: the working directory)."},
    "read_image": {"_all": "Returns the image itself to you; use it to look at screenshots or pictures on disk."},
    "launch_app": {
        "Linux": "Use the program's binary name (firefox, gedit, libreoffice).",
        "Darwin": "Use the application bundle name (Safari, TextEdit).",
        "Windows": "Use the executable name (notepad.exe, chrome.exe) or the Start menu name.",
    },
    "window_focus": {
        "Linux": "Window titles come from the X11 window manager; match part of the title.",
        "Windows": "Match part of the window title or the process name (notepad.exe).",
    },
    "execute_accessible": {
        "Linux": "Uses the AT-SPI accessibility tree; roles are names like 'push button' or 'text'.",
        "Darwin": "Uses the AX accessibility API (AXButton, AXTextField).",
        "Windows": "Uses UI Automation control types (Button, Edit, MenuItem).",
    },
    "set_env_var": {
        "Linux": "Persistent variables go into ~/.profile; they apply to new sessions.",
        "Windows": "Uses setx; new processes see the change, the current ones do not.",
    },
    "install_app": {
        "Linux": "Uses the distribution's package manager (apt, dnf, pacman) and needs the user's approval.",
        "Darwin": "Uses Homebrew.",
        "Windows": "Uses winget.",
    },
    "execute_skill": {"_all": "Only enabled skills run; call load_skill first to learn a skill's workflows."},
    "generate_plan": {"_all": "Makes a plan with a helper that can only look, and asks the user to approve it."},
}


def tool_notes(tool_names: Iterable[str], system: str) -> str:
    """A bullet list of notes for the tools on offer, shared notes first."""
    lines = []
    for name in sorted(set(tool_names)):
        notes = TOOL_NOTES.get(name)
        if not notes:
            continue
        text = " ".join(n for n in (notes.get("_all", ""), notes.get(system, "")) if n)
        if text:
            lines.append(f"- `{name}`: {text}")
    return "\n".join(lines)
