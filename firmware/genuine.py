# Is the card genuine? INTERNAL AUTHENTICATE with a fresh random, the PSAM's part at the
# card's pauses (docs/protocol.md section 6): secure.genuine loads it for the VERIFY
# (verify.py) and drops it after; the window's and the PIN change's keep the one-wire
# secure.authenticate (their heaps have no room for this).
import psam as P
from cmac import ct_eq as ct_equal, rand
from errors import SecurityError, StatusError


class _Pauses:
    """The card's slot during the exchange: after the pad's write that hands the card its
    work (X whole, or the GET RESPONSE header), the next of the PSAM's steps runs, whole,
    while the card computes or sends its answer into the slot's buffer."""

    def __init__(self, slot, x, steps):
        self.slot, self.x, self.steps = slot, x, steps

    def read(self, ms):
        return self.slot.read(ms)

    def write(self, b):
        self.slot.write(b)
        n = len(b)
        if self.steps and (n == 5 and b[1] == 0xC0 or n == 8 and bytes(b) == self.x):
            self.steps.pop(0)()


def check(card, sam):
    """INTERNAL AUTHENTICATE with a fresh random, checked by the PSAM: refuses clones. The
    PSAM's part runs while the card works: its INIT while the card computes its answer,
    its CIPHER DATA while the card sends it; whatever the card's pauses did not take runs
    after its exchange. A PSAM fault is raised before any of the card's (its code: the app
    resets the PSAM); each PSAM step runs whole or not at all, so a card error leaves the
    PSAM between two commands."""
    x = rand(bytearray(8), 16)  # 16 left: the PIN block's draw never refills
    xx = bytearray(x)
    if card.block == 16:
        for i in range(8):
            xx.append(x[i] ^ 0xFF)
    out = [None, None]  # the PSAM's answer; its error

    def init():
        try:
            sam.init(P.T_IA, card.kv[1], sam.factors(card))
        except Exception as e:
            out[1] = e
            p.steps = None

    def cipher():
        try:
            out[0] = sam.cipher(0, xx, len(xx))
        except Exception as e:
            out[1] = e

    t0 = card.t0
    p = _Pauses(t0.slot, x, [init, cipher])
    t0.slot = p
    try:
        got = card.command(b"\x00\x88\x00\x00", x)
        if got[1] != 0x9000:
            raise StatusError(got[1], "INTERNAL AUTHENTICATE")
        while p.steps:  # what the card's pauses did not take
            p.steps.pop(0)()
    except Exception:
        if out[1]:  # the PSAM's fault first, the card's lost
            raise out[1]
        raise
    finally:
        t0.slot = p.slot
    if out[1]:
        raise out[1]
    if not ct_equal(got[0], out[0]):
        raise SecurityError("card authentication failed")
