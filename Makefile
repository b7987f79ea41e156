# PIN pad firmware and host tool. `make test` and `make demo` set everything up.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
PADCTL  := $(VENV)/bin/padctl
N       ?= 1000

.PHONY: setup test demo sim bench soak soak-all clean font esp32

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

test: setup
	$(PYTEST) -q tests -m "not soak_all"

# The ESP32 pad's font subset (boards/esp32_pinpad/font.bin, committed) from Debian's
# unifont, installed here when missing and we are root; `make esp32` compiles the firmware
# and the board with mpy-cross for the ESP32 (-march=xtensawin) into build/esp32_pinpad/.
UNIFONT := /usr/share/unifont/unifont.hex

$(UNIFONT):
	@if [ "$$(id -u)" = 0 ]; then apt-get install -y -q unifont >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q unifont >/dev/null; }; \
	else echo "make font: install the Debian package unifont (as root)"; exit 1; fi

font: setup $(UNIFONT)
	$(PY) -m padctl.fontgen

esp32: setup
	$(PY) -c 'from padctl.mpy import build; print(build("esp32_pinpad"))'

demo: setup
	$(PADCTL) demo

sim: setup
	$(PADCTL) sim

bench: setup
	$(PY) -m padctl.bench
	$(PY) -m padctl.bench_boot

soak: setup
	PAD_SOAK_CUTS=$(N) $(PYTEST) -q -x tests/test_powercut.py -k invariant -s

# every cut point of one transaction of each kind, in order (padctl.powercut_all);
# .ci/run calls it after `make test`
soak-all: setup
	$(PYTEST) -q tests/test_powercut_all.py -m soak_all -s

clean:
	rm -rf $(VENV) build *.egg-info host_tools/*.egg-info
