# Unlock at the window (DESIGN section 7, docs/protocol.md 9.7): PIN UNBLOCK of the card
# (its tries back to the maximum, its PIN kept) under the host's authorisation, the
# command MAC computed by the window's key service (the pad's PSAM holds no unblock key).
# app.Pad.session loads it for the card in a window boot (window.hook) once the
# authorisation (winauth.py) is done and dropped; then the command (winrelay.py).
def run(pad, c, sam, a):
    # a: winauth.authorise's (the authorisation's ref, the tries flag for the intent)
    __import__("winrelay").relay(pad, c, sam, a[0], a[1], b"\x84\x24\x00\x00")
