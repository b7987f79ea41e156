"""Power cuts at enumerated points (DESIGN section 5): the pad is SIGKILLed at flash
operations (whole or torn) and at bytes on the card and PSAM wires; after each cut the
invariant, the boot, the journal and the agreement of pad and card are checked by
padsim.powercut.Harness from the firmware's own trace. `make soak N=...` runs more."""
import os

import pytest

from mp import HEAP
from padsim.powercut import Harness, Violation

CUTS = int(os.getenv("PAD_SOAK_CUTS", "200"))


def test_power_cuts_keep_the_invariant(tmp_path):
    h = Harness(tmp_path, heap=HEAP, seed=int(os.getenv("PAD_SOAK_SEED", "7")))
    try:
        h.run(CUTS)
        print("power cuts: " + h.tally())
    finally:
        h.close()
    assert h.cuts >= CUTS
    kinds = {k[0] for k in h.hits}
    assert kinds == {"flash", "card", "psam"}, h.hits
    torn = [k for k in h.hits if k[0] == "flash" and k[2] in ("torn", "half")]
    assert torn, "no torn flash write among the cuts"
    assert len(h.hits) >= CUTS // 2, "too few distinct cut points: %d" % len(h.hits)
    assert h.checked >= CUTS // 3


def test_harness_catches_a_missing_write_before_the_verify(tmp_path):
    """With the test switch that removes the durable PENDING record, a cut while the card
    answers the VERIFY leaves the card with a failure the pad never recorded."""
    h = Harness(tmp_path, heap=HEAP, seed=3, skip_pending=True)
    try:
        with pytest.raises(Violation, match="invariant broken"):
            for cut in h.verify_answer_points():
                h.round(cut, "000000")
                h.round(None, "000000")  # the next insertion shows what the pad recorded
    finally:
        h.close()


def test_same_cuts_pass_with_the_write(tmp_path):
    """The control for the test above: the same cuts, the write in place, no violation."""
    h = Harness(tmp_path, heap=HEAP, seed=3)
    try:
        for cut in h.verify_answer_points():
            h.round(cut, "000000")
            h.round(None, "000000")
            h._refresh_card()
        assert h.cuts >= 10
    finally:
        h.close()
