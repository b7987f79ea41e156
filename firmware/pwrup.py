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
    n = len(pad.room)  # (a normal boot holds it)
    pad.room = None
    gc.collect()
    if getattr(pad, "linkbuf", None):  # a window boot (padinit.py: the host's W request,
        pad._settle()  # 9.7): the journal's audit done (its code dropped), unlock takes no
        # PIN; its code
        op = pad.linkbuf[1]
        if op == 1:
            sys.modules.pop("pin_entry", None)
            sys.modules.pop("pinblock", None)
        pad.room = None  # (app.py's flows' room: the window's code goes there)
        gc.collect()
        __import__("window")  # then the flow's, the start's (it drops itself): the app's
        flow = "unlock" if op == 1 else "reset"  # loop serves the card
        __import__(flow)
        gc.collect()
        return __import__("winstart").run(pad, flow)
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
        pad.room = bytearray(n)
    except MemoryError:  # (the first flow's code goes where it can)
        pass
