# Power-up (loaded by app.run once in a normal boot; it drops itself): the PSAM activated
# for its GET CHALLENGE, kept for the DRBG's next refill (cmac.RAND, drbg.py: mixed in
# with os.urandom at the idle loop's refill); then deactivated: the first card activates
# it again, as in a boot without this (its objects are made in the session's heap).
# Without the PSAM, or without room, the DRBG runs on os.urandom until the next power-up.
# The flows' room (app.py) is lent to the PSAM's ATR (and PPS) code meanwhile, and taken
# back, in the heap just collected, once that code is gone.
import gc
import sys

import cmac


def run(pad):
    sys.modules.pop("pwrup", None)
    pad.room = None  # (a normal boot holds it)
    gc.collect()
    try:
        sam = pad._psam()
        if sam is not None:
            cmac.RAND[112:120] = sam._x(b"\x00\x84\x00\x00\x08", 8)
    except Exception as e:  # (a PSAM that refuses GET CHALLENGE still serves the cards)
        sys.print_exception(e, sys.stderr)
    sam = pad.sam = None
    pad.board.psam.deactivate()
    gc.collect()
    try:
        pad.room = bytearray(1152)  # (app._ROOM)
    except MemoryError:  # (the first flow's code goes where it can)
        pass
