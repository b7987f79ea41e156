# PIN pad firmware and host tool. `make test` and `make demo` set everything up.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
PADCTL  := $(VENV)/bin/padctl
N       ?= 1000

.PHONY: setup test demo sim bench soak soak-all clean chromium console

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

test: setup chromium
	$(PYTEST) -q tests -m "not soak_all"

# Debian's Chromium for the console's browser tests (tests/test_console_browser.py), used by
# its path (Playwright never downloads a browser here), and a Chinese font for its screenshots
chromium:
	@if { [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; } && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    fonts-wqy-microhei >/dev/null; fi

# the clerk's console on http://127.0.0.1:8765/ (add a clerk first: padctl clerks add ID)
console: setup
	$(PADCTL) console

demo: setup
	$(PADCTL) demo

sim: setup
	$(PADCTL) sim

bench: setup
	$(PY) -m padctl.bench

soak: setup
	PAD_SOAK_CUTS=$(N) $(PYTEST) -q -x tests/test_powercut.py -k invariant -s

# every cut point of one transaction of each kind, in order (padctl.powercut_all);
# .ci/run calls it after `make test`
soak-all: setup
	$(PYTEST) -q tests/test_powercut_all.py -m soak_all -s

clean:
	rm -rf $(VENV) build *.egg-info host_tools/*.egg-info
