import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# tests/fw/ holds firmware files run under micropython, not pytest modules
collect_ignore = ["fw"]


def pytest_configure(config):
    config.addinivalue_line("markers", "soak_all: the exhaustive power-cut run "
                            "(make soak-all, called by .ci/run); make test leaves it out")
