"""The security gate, command execution, the sandbox and the audit log.

The gate's pure modules (``COMPILED_MODULES``) can be compiled with mypyc: ``make gate`` (which ``make run`` and
``make test`` do) puts the extension modules in ``_compiled/`` with a manifest of the sources they were built from.
They are used only while every one of those sources still matches the manifest, so an edited rule never runs as
stale compiled code: the package falls back to the interpreted modules until the next build. ``GATE_BUILD`` says
which is in use and why; ``CONTOP_GATE_COMPILED=0`` forces the interpreted modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

COMPILED_MODULES = (
    "catalog", "cmdbase", "cmdfetch", "cmdmount", "codefiles", "cmdshell", "cmdsystem", "cmdtools", "commands",
    "decision", "embedded", "findings", "gate", "keywords", "paths", "payload", "posix", "powershell", "psparse",
    "scripts", "shellparse", "state", "userlists",
)  # fmt: skip
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
COMPILED_DIR = os.path.join(PACKAGE_DIR, "_compiled")
MANIFEST = "manifest.json"
BUILD_HINT = "run `make gate` to compile it"


def python_tag() -> str:
    return f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"


def source_digests(here: str = PACKAGE_DIR) -> dict[str, str]:
    """SHA-256 of each compiled module's source in the folder ``here``, as the manifest records them."""
    digests = {}
    for name in COMPILED_MODULES:
        with open(os.path.join(here, name + ".py"), "rb") as source:
            digests[name] = hashlib.sha256(source.read()).hexdigest()
    return digests


def compiled_build(compiled_dir: str = COMPILED_DIR) -> tuple[bool, str]:
    """Whether to load the compiled modules in ``compiled_dir``, and a sentence for ``contop doctor``."""
    if os.environ.get("CONTOP_GATE_COMPILED", "1") == "0":
        return False, "interpreted (CONTOP_GATE_COMPILED=0)"
    try:
        with open(os.path.join(compiled_dir, MANIFEST), encoding="utf-8") as file:
            manifest = json.load(file)
    except FileNotFoundError:
        return False, f"interpreted (not compiled; {BUILD_HINT})"
    except (OSError, ValueError) as exc:
        return False, f"interpreted (unreadable build manifest: {type(exc).__name__}; {BUILD_HINT})"
    if not isinstance(manifest, dict) or manifest.get("python") != python_tag():
        return False, f"interpreted (compiled for another Python; {BUILD_HINT})"
    try:
        digests = source_digests(os.path.dirname(compiled_dir))
    except OSError as exc:
        return False, f"interpreted (cannot read a source: {type(exc).__name__})"
    built = manifest.get("sources")
    if built != digests:
        built = built if isinstance(built, dict) else {}
        changed = sorted(n for n in digests.keys() | built.keys() if built.get(n) != digests.get(n))
        return False, f"interpreted (changed since it was compiled: {', '.join(changed)}; {BUILD_HINT})"
    return True, f"compiled with mypyc {manifest.get('mypyc', '?')}"


COMPILED, GATE_BUILD = compiled_build()
if COMPILED:
    # Submodules are looked up in _compiled/ first; the modules not compiled are found in this folder as usual.
    __path__.insert(0, COMPILED_DIR)
