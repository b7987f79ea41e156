# PIN pad firmware and host tool. `make test` and `make demo` set everything up.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
PADCTL  := $(VENV)/bin/padctl
N       ?= 1000

SOFTHSM := /usr/lib/softhsm/libsofthsm2.so

.PHONY: setup postgres softhsm test demo sim bench soak soak-all clean flash chromium console font esp32

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Debian's PostgreSQL server for tests/test_region.py and the regional bench, which start
# a throwaway cluster of their own (padsim/pgtemp.py): installed when missing (as root),
# without Debian's default cluster
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    mkdir -p /etc/postgresql-common/createcluster.d && \
	    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/padctl.conf && \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	  else echo "make: no PostgreSQL server: apt-get install postgresql (as root)" >&2; fi; fi


# SoftHSM2 stands in for the encryption machine in the key service's PKCS#11 tests
# (tests/hsm.py makes its token in a temporary folder); installed here when root.
softhsm:
	@if [ ! -e $(SOFTHSM) ] && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2; fi


test: setup postgres softhsm chromium
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

# The ESP32 pad's font subset (boards/esp32_pinpad/font.bin, committed) from Debian's
# unifont, installed here when missing and we are root; `make esp32` compiles the firmware
# and the board with mpy-cross for the ESP32 (-march=xtensawin) into build/esp32_pinpad/.
UNIFONT := /usr/share/unifont/unifont.hex

$(UNIFONT):
	@if [ "$$(id -u)" = 0 ]; then apt-get install -y -q unifont >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q unifont >/dev/null; }; \
	else echo "make font: install the Debian package unifont (as root)"; exit 1; fi

font: setup $(UNIFONT)
	$(PY) -m padsim.fontgen

esp32: setup
	$(PY) -c 'from padctl.mpy import build; print(build("esp32_pinpad"))'

demo: setup
	$(PADCTL) demo

sim: setup
	$(PADCTL) sim

bench: setup postgres
	$(PY) -m padsim.bench
	$(PY) -m padsim.bench_boot
	$(PY) -m padsim.bench_region

soak: setup
	PAD_SOAK_CUTS=$(N) $(PYTEST) -q -x tests/test_powercut.py -k invariant -s

# every cut point of one transaction of each kind, in order (padsim.powercut_all), and
# every card-wire byte of the window's unlock and reset; .ci/run calls it after `make test`
soak-all: setup
	$(PYTEST) -q tests/test_powercut_all.py tests/test_window_powercut.py -m soak_all -s

clean:
	rm -rf $(VENV) build *.egg-info host_tools/*.egg-info

# flash a pad in service mode (or the emulator: padctl emulate --service --pty PATH):
# make flash PORT=/dev/ttyUSB0 [KEYSTORE=ks.json REGION=110105 PAD=0102030405060708] [BOARD=esp32_pinpad] [ARGS=--reprovision]
flash: setup
	$(PADCTL) flash --port "$(PORT)" $(if $(KEYSTORE),--keystore "$(KEYSTORE)") $(if $(REGION),--region $(REGION)) $(if $(PAD),--pad-id $(PAD)) $(if $(BOARD),--board $(BOARD)) $(ARGS)
