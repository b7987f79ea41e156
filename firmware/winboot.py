# A window boot's start (app.run loads it in place of pwrup.py when padinit.py kept the
# host's W request, protocol.md 9.7; it drops itself): the journal's audit done (its code
# dropped), the flows' room freed (padinit.py loaded no PIN entry's code), the PSAM's ATR
# and the random pool's refill, window.py, the card's room, then winstart.py, which checks
# the request and drops itself. The authorisation's code and the flow's come with the
# card, once it is identified (app.Pad.session; the phases: protocol.md 9.7's Memory). Its
# own module so that a normal boot's power-up (pwrup.py) does not carry this code.
import gc
import sys

from micropython import const

_ROOM = const(2048)


def run(pad):
    sys.modules.pop("winboot", None)
    pad._settle()
    op = pad.linkbuf[1]
    pad.room = None
    pad.show = pad.session = pad.cbuf = None  # window.hook's, later: the pad's dict grown now
    gc.collect()
    pad._psam()  # the PSAM's ATR (its parser's code) before the window's code is in
    gc.collect()
    __import__("cmac").rand(b"", 40)  # the session's random bytes (drbg.py's code), too:
    gc.collect()  # the idle loop's refill may find no room beside the window's code
    __import__("window")
    flow = "unlock" if op == 1 else "reset"  # (loaded once the card is identified, into
    gc.collect()  # the room its ATR parser leaves: app.Pad.session, window)
    try:  # the card's room (app.Pad.run frees it as the card comes: its ATR parser's code)
        pad.room = bytearray(_ROOM)
    except MemoryError:
        pass
    return __import__("winstart").run(pad, flow)
