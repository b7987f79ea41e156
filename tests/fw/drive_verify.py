# Drives the firmware's card insertion and secure VERIFY against a card slot and a PSAM
# slot of the simulated world (tests/test_verify_fw.py, tests/test_transcript.py).
#
#   micropython drive_verify.py [--card H:P] [--psam H:P] [--x HEX] [--fill HEX] OP...
#
# Slots: --card / --psam, else PAD_CARD / PAD_PSAM. --x fixes the INTERNAL AUTHENTICATE
# random (8 bytes) and --fill the PIN block's random bytes (16), so that a run can be
# compared byte for byte with a recorded one (docs/protocol.md section 10).
# Steps, as the app does them: power on the card, ATR, T=0, identify; open the PSAM;
# region and key check; INTERNAL AUTHENTICATE through the PSAM; then each OP:
#   <digits>       tries left (authenticated, else plain), then secure VERIFY of that PIN
#   block:<hex>    the same with that plaintext PIN block
#   stale:<digits> VERIFY computed over a challenge the card has already replaced
#   between:<digits> VERIFY with another card command between GET CHALLENGE and it
#   chal           GET CHALLENGE alone
#   raw:<hex>      one raw command APDU to the card
# Output, one line each: "card <id> <suite>", "psam <terminal>", "auth ok",
# "tries <n|->" ("tries <n> plain": the card does not offer the authenticated read),
# "sw <SW>", "raw <SW> <data|->", "chal <R>"; a firmware error ends the step as "err <Class> <message>" (a setup step's error ends the run); anything else is
# "crash <Class> <message>", a defect the tests report.
import binascii
import os
import sys

import genuine
import pinblock
import secure
from board import SocketSlot
from card import Card
from errors import Error
from iso7816 import atr
from iso7816.t0 import T0
from mptest import kind
from psam import Psam


def _name(e):
    """The error's class, or for the faults errors.py raises as coded Errors (fault()) the
    name the tests know them by (mptest.kind)."""
    return kind(e)


def _hex(b):
    return binascii.hexlify(b).decode() if b else "-"


class _Fixed:
    """Stands in for `rand` (cmac.rand) in a firmware module: recorded bytes."""

    def __init__(self, data):
        self.data = data

    def __call__(self, buf, keep=0):
        if len(buf) != len(self.data):
            raise ValueError("fixed random of %d bytes, %d asked" % (len(self.data), len(buf)))
        buf[:] = self.data
        return buf


class Probe(Card):
    """The firmware's Card, with the faults the negative tests need injected between
    the card layer and secure.verify (the exchanges themselves are the firmware's)."""

    mode = None

    def challenge(self):
        r = Card.challenge(self)
        if self.mode == "stale":  # the card replaces R: the VERIFY is computed over a stale one
            Card.challenge(self)
        return r

    def command(self, head, body, le=True):
        if self.mode == "between" and head[1] == 0x20:
            self.tries_left()  # any command spends the challenge
        return Card.command(self, head, body, le)


def transport(slot):
    slot.activate()
    return T0(slot, atr.read(slot).wwt_ms())


def digits(s):
    return bytearray(ord(c) - 48 for c in s)


def verify(card, sam, block, mode=None):
    card.mode = None
    try:  # authenticated when the card offers it (as the app reads it)
        t, how = secure.tries_left(card, sam), ""
    except secure.Plain:
        t, how = card.tries_left(), " plain"
    print("tries %s%s" % ("-" if t is None else t, how))
    card.mode = mode  # the fault is for the VERIFY, not the read
    sw = secure.verify(card, sam, block)
    print("sw %04x" % sw)


def op(card, sam, arg):
    kind, _, val = arg.partition(":")
    card.mode = None
    if kind == "chal":
        print("chal %s" % _hex(card.challenge()))
    elif kind == "raw":
        data, sw = card.t0.transmit(binascii.unhexlify(val))
        print("raw %04x %s" % (sw, _hex(data)))
    elif kind == "block":
        verify(card, sam, bytearray(binascii.unhexlify(val)))
    else:
        mode = kind if kind in ("stale", "between") else None
        if mode is None:
            val = arg
        pin = digits(val)
        block = pinblock.build(pin, len(pin), bytearray(card.block))
        pinblock.wipe(pin)
        try:
            verify(card, sam, block, mode)
        finally:
            pinblock.wipe(block)


def main(argv):
    card_at = os.getenv("PAD_CARD")
    psam_at = os.getenv("PAD_PSAM")
    ops = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("--card", "--psam", "--x", "--fill"):
            v = argv[i + 1]
            i += 1
            if a == "--card":
                card_at = v
            elif a == "--psam":
                psam_at = v
            elif a == "--x":
                genuine.rand = _Fixed(binascii.unhexlify(v))
            else:
                pinblock.rand = _Fixed(binascii.unhexlify(v))
        else:
            ops.append(a)
        i += 1
    cslot = SocketSlot(card_at, "card")
    pslot = SocketSlot(psam_at, "PSAM")
    try:
        step = "setup"
        try:
            card = Probe(transport(cslot))
            card.identify()
            print("card %s %d" % (_hex(card.card_id), card.suite))
            sam = Psam(transport(pslot))
            print("psam %s" % _hex(sam.terminal))
            sam.check(card)
            genuine.check(card, sam)  # (secure.genuine's: held here, its rand fixed)
            print("auth ok")
        except Error as e:
            print("err %s %s" % (_name(e), e))
            return
        for step in ops:
            try:
                op(card, sam, step)
            except Error as e:
                print("err %s %s" % (_name(e), e))
    except Exception as e:  # not a firmware error: a defect
        print("crash %s %s (%s)" % (type(e).__name__, e, step))
    finally:
        cslot.deactivate()
        pslot.deactivate()


main(sys.argv)
