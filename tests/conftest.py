import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# tests/fw/ holds firmware files run under micropython, not pytest modules
collect_ignore = ["fw"]


# Slow tiers (issue 10 item 7): tests carrying one of these markers stay in `make test`
# (soak_all excepted) but report their own time, per file, at the end of the run.
SLOW_TIERS = {
    "soak_all": "the exhaustive power-cut run (make soak-all, called by .ci/run); "
                "make test leaves it out",
    "slow": "a slow tier (a browser, a database server, exhaustive cuts): in make test, "
            "its time reported on its own",
}
_tier_time = {}  # (marker, file) -> seconds


def pytest_configure(config):
    for name, text in SLOW_TIERS.items():
        config.addinivalue_line("markers", "%s: %s" % (name, text))


def pytest_runtest_logreport(report):
    tiers = getattr(report, "slow_tiers", None)
    if tiers:
        for t in tiers:
            key = (t, report.nodeid.split("::")[0])
            _tier_time[key] = _tier_time.get(key, 0.0) + report.duration


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    tiers = [m for m in SLOW_TIERS if item.get_closest_marker(m) is not None]
    if tiers:
        outcome.get_result().slow_tiers = tiers


def pytest_terminal_summary(terminalreporter):
    if not _tier_time:
        return
    terminalreporter.section("slow tiers: their own time")
    for (tier, path), secs in sorted(_tier_time.items()):
        terminalreporter.write_line("%-10s %-40s %7.1f s" % (tier, path, secs))


@pytest.fixture
def make_pad(tmp_path):
    """make(**PadSim options): a running simulated pad (tests/padkit.py), closed after the
    test."""
    from padkit import PadSim
    pads = []

    def make(**kw):
        p = PadSim(tmp_path / ("pad%d" % len(pads)), **kw)
        pads.append(p)
        return p

    yield make
    for p in pads:
        p.close()


# A throwaway PostgreSQL (tests/test_region.py, test_console_region.py): one per session
@pytest.fixture(scope="session")
def cluster():
    """One throwaway PostgreSQL for the session (fsync off: tests, not figures)."""
    import os
    from padsim.pgtemp import ClusterError, TempCluster
    try:
        c = TempCluster({"fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off"})
    except ClusterError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip("no PostgreSQL server here (make test installs it): %s" % e)
    yield c
    c.stop()


@pytest.fixture
def region(cluster, request):
    """A fresh regional database (no schema yet) for one test: its URL."""
    import random
    name = "t_%s_%d" % (request.node.name[:30].replace("[", "_").replace("]", "_")
                        .replace("-", "_").lower(), random.getrandbits(32))
    return cluster.createdb(name)
