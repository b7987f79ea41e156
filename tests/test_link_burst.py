"""3,000 garbage frames on the link, at the pad's heap: every one gets the ERROR code of
its fault (protocol.md 9.2, 9.4), none the internal error 0C, and the pad goes on, fed one
frame per call, one byte per call, or in bursts of many frames per feed() call.

tests/fw/drive_burst.py runs firmware/link.py as the pad loads it (compiled) under
micropython -X heapsize=64k, after filling the heap until 4 KB are left: less than an
idle pad has once its link is loaded (12 KB free at boot, README / PAD_TRACE "mem boot",
less the link's 5 KB import and its state: tests/fw/test_link_cost.py), so the link's own
allocations decide. Before the fix, answers of several frames in one feed() call were
joined in a growing bytes object: under that heap a burst got 0C answers (the AES key
schedule of a PULL or ACK's MAC check found no room, and the MemoryError was answered as
an internal error) or a MemoryError out of feed(), which takes the pad's loop down."""
import re

import pytest

from mp import FWTESTS, run_mp

FRAMES = 3000
FREE = 4096


def run(mode, chunk=1536, seed=1, free=FREE):
    r = run_mp(FWTESTS / "drive_burst.py", [mode, FRAMES, seed, free, chunk], heap="64k",
               timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    codes = dict((int(c), int(n)) for c, n in re.findall(r"(\d+):(\d+)", r.stdout))
    answers, mismatch, lost = map(int, re.search(
        r"answers (\d+) mismatch (\d+) lost (-?\d+)", r.stdout).groups())
    return codes, answers, mismatch, lost, r.stdout


@pytest.mark.parametrize("mode,chunk,seed,free", [
    ("slow", 1536, 1, FREE),     # one frame per feed() call
    ("bytes", 1536, 1, FREE),    # one byte per call, as the pad's poll loop reads the line
    ("burst", 1536, 2, FREE),    # about 40 frames per call
    ("burst", 3072, 1, FREE),    # about 80 frames per call (before the fix: MemoryError)
    ("burst", 1024, 2, 3584),    # about 25 frames per call, 3.5 KB free (before: 10 0C)
])
def test_garbage_frames_get_their_own_codes_never_0C(mode, chunk, seed, free):
    codes, answers, mismatch, lost, out = run(mode, chunk, seed, free)
    assert 12 not in codes, out  # never "internal error" for bad input
    assert 13 not in codes, out  # only ERROR frames (13: any other answer)
    assert (answers, mismatch, lost) == (FRAMES, 0, 0), out
    # every kind of fault was there, each with its own code
    assert all(codes.get(c, 0) > 200 for c in (1, 2, 3, 4, 5)), out
