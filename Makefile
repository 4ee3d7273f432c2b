# Contop: `make run` starts the server, `make test` installs everything the tests need and runs them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# System packages for the real-component tests: X server + window manager + D-Bus + AT-SPI for desktop control,
# bubblewrap for the sandbox, Chromium for the phone client, iproute2 for network-namespace tests.
APT_PACKAGES := xvfb openbox dbus dbus-x11 x11-utils x11-xserver-utils xdotool xclip xsel xterm \
	bubblewrap chromium at-spi2-core iproute2 procps python3-tk libgl1 libegl1 libxkbcommon-x11-0 \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
	libxcb-render-util0 libxcb-image0 libxcb-xkb1 imagemagick fonts-dejavu-core gcc

.PHONY: run test lint typecheck bench system-deps clean gate

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e '.[ocr,desktop,browser,compiled]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[ocr,desktop,browser,compiled,dev]'
	touch $@

# The security gate compiled with mypyc (about twice as fast; contop/security/__init__.py). Rebuilt when a source
# changes; when it cannot be built the gate stays interpreted and `contop doctor` says why.
GATE_BUILD := contop/security/_compiled/manifest.json
$(GATE_BUILD): $(wildcard contop/security/*.py) tools/compile_gate.py $(VENV)/.installed
	$(BIN)/python tools/compile_gate.py || echo "note: the security gate was not compiled (reason above)"

gate: $(GATE_BUILD)

run: $(VENV)/.installed $(GATE_BUILD)
	$(BIN)/contop serve

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v node >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs >/dev/null; }

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check contop tests bench tools
	$(BIN)/ruff format --check contop tests bench tools

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy contop

# Byte-code is compiled once here: the suite starts hundreds of `contop` subprocesses, and where
# PYTHONDONTWRITEBYTECODE is set (as here) each of them would otherwise compile the modules it imports again.
test: system-deps $(VENV)/.installed-dev $(GATE_BUILD) lint typecheck
	node --test tests/web/
	$(BIN)/python -m compileall -q contop
	$(BIN)/pytest

bench: system-deps $(VENV)/.installed-dev $(GATE_BUILD)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache contop/security/_compiled
