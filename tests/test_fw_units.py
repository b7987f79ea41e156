"""Runs every firmware unit test file (tests/fw/test_*.py) under the unix-port micropython."""
import pytest

from mp import FWTESTS, run_mp

FILES = sorted(p.name for p in FWTESTS.glob("test_*.py"))


@pytest.mark.parametrize("name", FILES)
def test_firmware_unit(name):
    r = run_mp(FWTESTS / name, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout and "FAIL" not in r.stdout, r.stdout
