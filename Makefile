# PIN pad firmware and host tool. `make test` and `make demo` set everything up.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
PADCTL  := $(VENV)/bin/padctl
N       ?= 1000

.PHONY: setup test demo sim bench soak soak-all clean flash

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

test: setup
	$(PYTEST) -q tests -m "not soak_all"

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

# flash a pad in service mode (or the emulator: padctl emulate --service --pty PATH):
# make flash PORT=/dev/ttyUSB0 [KEYSTORE=ks.json REGION=110105 PAD=0102030405060708] [ARGS=--reprovision]
flash: setup
	$(PADCTL) flash --port "$(PORT)" $(if $(KEYSTORE),--keystore "$(KEYSTORE)") $(if $(REGION),--region $(REGION)) $(if $(PAD),--pad-id $(PAD)) $(ARGS)
