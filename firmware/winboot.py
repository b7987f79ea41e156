# A window boot's start (app.run loads it in place of pwrup.py when padinit.py kept the
# host's W request, protocol.md 9.7; it drops itself): the journal's audit done (its code
# dropped), the flows' room freed for the window's code, window.py and the flow's module
# (unlock.py, which takes no PIN: the PIN entry's code dropped; reset.py), then
# winstart.py, which checks the request and drops itself. Its own module so that a
# normal boot's power-up (pwrup.py) does not carry this code.
import gc
import sys


def run(pad):
    sys.modules.pop("winboot", None)
    pad._settle()
    op = pad.linkbuf[1]
    if op == 1:
        sys.modules.pop("pin_entry", None)
        sys.modules.pop("pinblock", None)
    pad.room = None
    gc.collect()
    __import__("window")
    flow = "unlock" if op == 1 else "reset"
    __import__(flow)
    gc.collect()
    return __import__("winstart").run(pad, flow)
