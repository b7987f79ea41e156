# Unlock at the window (DESIGN section 7, docs/protocol.md 9.7): PIN UNBLOCK of the card
# (its tries back to the maximum, its PIN kept) under the host's authorisation, the
# command MAC computed by the window's key service (the pad's PSAM holds no unblock key).
# Loaded by the window boot with window.py (pwrup.py); window.serve runs it for the card.
import window


def run(pad, c, sam):
    a = window.authorise(pad, c, sam)
    if a:
        window.relay(pad, c, sam, a[0], a[1], b"\x84\x24\x00\x00")
