# Unlock at the window (DESIGN section 7, docs/protocol.md 9.7): PIN UNBLOCK of the card
# (its tries back to the maximum, its PIN kept) under the host's authorisation, the
# command MAC computed by the window's key service (the pad's PSAM holds no unblock key).
# Loaded by the window boot (winboot.py); app.Pad.session runs it for the card (window.hook):
# the authorisation (winauth.py, dropped), then the command (winrelay.py).
import sys


def run(pad, c, sam):
    a = __import__("winauth").authorise(pad, c, sam)  # (no name here keeps it)
    sys.modules.pop("winauth")  # its code out before the command's
    if a:  # (winrelay.py into the room winauth.py leaves)
        __import__("winrelay").relay(pad, c, sam, a[0], a[1], b"\x84\x24\x00\x00")
