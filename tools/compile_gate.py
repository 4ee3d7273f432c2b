"""Compile the security gate's pure modules with mypyc into ``contop/security/_compiled`` (see its ``__init__``).

Run from anywhere with the project's venv: ``python tools/compile_gate.py``. Needs mypy (the ``compiled`` extra),
a C compiler and the Python headers; when one is missing it says so and exits 1, and the gate stays interpreted
(same decisions, about half the speed). The build happens in a temporary folder and replaces ``_compiled/`` in one
rename, so an interrupted build leaves the previous one (or none) in place, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import contop.security as security  # noqa: E402 - the package's own list of modules and digests


def _missing_tools() -> str | None:
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypy (with mypyc) is not installed: pip install -e '.[compiled]'"
    include = sysconfig.get_paths().get("include", "")
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"the Python headers are missing ({include}/Python.h): install python3-dev or equivalent"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return "no C compiler found: install gcc"
    return None


def main() -> int:
    problem = _missing_tools()
    if problem:
        print(f"compile_gate: {problem}; not compiled (`contop doctor` says which gate runs)", file=sys.stderr)
        return 1
    from mypy.version import __version__ as mypy_version
    from mypyc.build import mypycify
    from setuptools import setup

    package = ROOT / "contop" / "security"
    digests = security.source_digests()  # before compiling: an edit made meanwhile shows as changed
    started = time.monotonic()
    os.chdir(ROOT)  # mypyc reads the mypy settings of pyproject.toml
    with tempfile.TemporaryDirectory(prefix="contop-gate-") as tmp:
        extensions = mypycify(
            [str(package / f"{name}.py") for name in security.COMPILED_MODULES],
            opt_level="3",
            group_name="contop.security._gate",
            target_dir=os.path.join(tmp, "c"),
        )
        out = Path(tmp) / "lib"
        os.chdir(tmp)  # setuptools would read the project's pyproject.toml too
        try:
            setup(
                name="contop-gate",
                ext_modules=extensions,
                script_args=["-q", "build_ext", "--build-lib", str(out), "--build-temp", os.path.join(tmp, "tmp")],
            )
        finally:
            os.chdir(ROOT)  # not inside the folder about to be removed
        lib = out / "contop" / "security"
        built = sorted(p for p in lib.iterdir() if p.suffix in (".so", ".pyd"))
        missing = set(security.COMPILED_MODULES) - {path.name.split(".", 1)[0] for path in built}
        if missing:
            print(f"compile_gate: the build produced no module for {', '.join(sorted(missing))}", file=sys.stderr)
            return 1
        target = Path(security.COMPILED_DIR)
        staged = target.with_name(f"_compiled.new-{os.getpid()}")  # beside the target: renames stay atomic
        old = target.with_name(f"_compiled.old-{os.getpid()}")
        staged.mkdir()
        try:
            for path in built:
                shutil.copy2(path, staged / path.name)
            manifest = {"python": security.python_tag(), "mypyc": mypy_version, "sources": digests}
            (staged / security.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
            if target.exists():
                target.rename(old)
            staged.rename(target)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    print(f"compile_gate: {len(built)} modules compiled into {target} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
