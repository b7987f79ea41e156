"""Every cut point, not a sample (hardening item 8): one transaction of each kind (the
right PIN, a wrong PIN, the locking PIN, a sync whose ACKs reclaim a sector) cut at every
flash operation (before it, torn, half, after it) and every byte each way on the card and
PSAM wires, in order, each from the same state, each followed by the Harness's checks
(padsim.powercut_all). The full run is marked `soak_all`: `make soak-all` runs it and
.ci/run calls that after `make test`; `make test` leaves it out (about 7 minutes), and its
control (the planted missing write) goes with it."""
import time

import pytest

from mp import HEAP
from padsim.powercut_all import KINDS, Exhaustive, point_str


@pytest.mark.soak_all
def test_every_cut_point_keeps_the_rules(tmp_path):
    t = time.monotonic()
    ex = Exhaustive(tmp_path, HEAP, say=print)
    try:
        ex.run()
    finally:
        ex.close()
    covered, listed = ex.totals()
    print("total: cut points covered: %d of %d listed, %d violation(s), %.0f s"
          % (covered, listed, len(ex.violations), time.monotonic() - t))
    assert not ex.violations, "\n".join(
        "%s at %s: %s (reproduce: .venv/bin/python -m padsim.powercut_all --kind %s "
        "--point %s)" % (k, point_str(p), m, k, point_str(p)) for k, p, m in ex.violations)
    assert set(ex.results) == set(KINDS)
    for kind, r in ex.results.items():
        assert not r["missed"], ex.line(kind)
        # a PIN transaction's points are mostly its wire bytes; a sync's, its flash
        # operations (BOOT, one ACK per reclaim, the SNAPSHOTs, three erases: 12 of them
        # today, each with 7 tears)
        assert len(r["listed"]) > (100 if kind != "sync" else 60), ex.line(kind)
    assert covered == listed


@pytest.mark.soak_all  # (with the run it controls; test_powercut's random cuts have theirs)
def test_the_exhaustive_run_catches_a_missing_write_before_the_verify(tmp_path):
    """The control: with the PENDING record before the VERIFY removed (the planted bug),
    the card-wire cuts of one wrong PIN, every one in order, break the invariant."""
    ex = Exhaustive(tmp_path, HEAP, skip_pending=True)
    try:
        ex.run(("wrong",), select=lambda p: p[0] == "card" and p[1] == "tx")
    finally:
        ex.close()
    assert any("invariant broken" in m for _, _, m in ex.violations), ex.violations
