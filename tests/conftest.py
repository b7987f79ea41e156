import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# tests/fw/ holds firmware files run under micropython, not pytest modules
collect_ignore = ["fw"]


def pytest_configure(config):
    config.addinivalue_line("markers", "soak_all: the exhaustive power-cut run "
                            "(make soak-all, called by .ci/run); make test leaves it out")


@pytest.fixture
def make_pad(tmp_path):
    """make(**PadSim options): a running simulated pad (tests/padsim.py), closed after the
    test."""
    from padsim import PadSim
    pads = []

    def make(**kw):
        p = PadSim(tmp_path / ("pad%d" % len(pads)), **kw)
        pads.append(p)
        return p

    yield make
    for p in pads:
        p.close()
