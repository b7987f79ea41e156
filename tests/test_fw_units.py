"""Runs every firmware unit test file (tests/fw/test_*.py) under the unix-port micropython."""
import pytest

from mp import FWTESTS, run_mp

FILES = sorted(p.name for p in FWTESTS.glob("test_*.py"))


@pytest.mark.parametrize("name", FILES)
def test_firmware_unit(name):
    # the test scripts are compiled from source on the heap, so they get room for that;
    # the pad itself is held to 64 KB by the demo, flow and power-cut tests, and each
    # layer's import cost by its *_cost / *_mem test
    r = run_mp(FWTESTS / name, timeout=300, heap="128k")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout and "FAIL" not in r.stdout, r.stdout
