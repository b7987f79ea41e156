# CHANGE PIN at the pad (issue 9; DESIGN section 7; docs/protocol.md sections 4 and 6):
# the holder chose it with the function key at the idle screen, then inserted the card.
# The old PIN, then the new one twice (a mismatch asks again), the weak-PIN rules
# (weakpin.py, with the holder's ID number from EF06) refusing with the reason on the
# screen; then CHANGE PIN `84 5E 01 00`, whose check of the old PIN spends a try exactly
# like a VERIFY: PENDING durable before the command, the authenticated outcome after.
# Loaded by app.Pad.session for its card and dropped after; weakpin.py loaded as the flow
# starts (the card read) and dropped once the new PIN passed it.
import gc
import sys

from micropython import const

import pin_entry as P
import pinblock
import retry as R
import secure
from errors import SecurityError, StatusError

# journal kinds (journal.py; private here: a name costs RAM)
_J_TAMPER = const(3)
_J_LOCK = const(8)
_J_CARD_REFUSED = const(11)
_J_CHANGE = const(14)
_J_FULL = const(18)
# messages (messages.py: lines of lang_*.txt)
_M_PIN_WRONG = const(4)
_M_LOCKED = const(5)
_M_CARD_ERROR = const(8)
_M_LOG_FULL = const(10)
_M_TIMED_OUT = const(11)
_M_CANCELLED = const(12)
_M_NOT_GENUINE = const(14)
_M_CHECKING = const(15)

_R_NOT_GENUINE = const(3)  # app.py's reasons (protocol.md section 6)
_R_FORGED = const(6)
_T_PIN = const(1)  # psam.T_PIN
# this flow's messages (lang_*.txt lines; messages.py does not name them: RAM)
_ENTER_OLD = const(23)
_ENTER_NEW = const(24)
_NEW_AGAIN = const(25)
_PINS_DIFFER = const(26)
_PIN_CHANGED = const(27)


def run(pad, c, sam):
    """Is the card genuine, its tries left (a pending attempt settled), the old PIN, the
    new one twice, CHANGE PIN, the outcome on the screen and in the journal."""
    global weakpin  # (dropped once the new PIN passed it; only this name keeps it)
    gc.collect()  # the ATR's code (iso7816.atr, dropped) is gone: weakpin into that heap,
    import weakpin  # not beside the ATR's code (the session's peak: a MemoryError in the
    sys.modules.pop("weakpin")  # change power cuts with PPS in iso7816.atr)
    j, cid = pad.journal, c.card_id
    pad._state("pre", cid)
    # is the card genuine? its tries left (what a power cut left open settled); locked?
    try:
        secure.authenticate(c, sam)
    except SecurityError:
        j.event(_J_CARD_REFUSED, cid, bytes((_R_NOT_GENUINE,)))
        return pad.show(_M_NOT_GENUINE)
    try:
        tries, auth = pad._resolve(c, sam)
    except SecurityError:
        return pad.show(_M_CARD_ERROR)
    pad._state("post", cid)
    if tries is None:
        tries = pad.cfg["card_limit"]
    f, _, lk = pad.retry.state(cid)
    if tries == 0 or lk:
        if not lk:
            j.append(_J_LOCK, cid, bytes((0, f)))  # found locked
        return pad.show(_M_LOCKED)
    if not j.fits(pad.retry.worst_case("change")):  # (checked at insertion too)
        j.event(_J_FULL, cid)
        return pad.show(_M_LOG_FULL)
    hid = c.read(6, 18)  # EF06, for the weak-PIN rules: compared, never journaled or shown
    # the PINs, as PIN blocks: every buffer made before the entries (no allocation holds
    # a PIN's digits) and wiped on every way out (the finally)
    wipe = pinblock.wipe
    pin, again = pad.pin, bytearray(12)
    old, new = bytearray(c.block), bytearray(c.block)
    ms = pad.cfg["pin_timeout_s"] * 1000
    c.t0.until = None  # PIN entry starts: the session cap is over, the command cap stays
    try:
        # the old PIN
        n = P.enter_pin(pad, pin, ms, _ENTER_OLD)
        if n < 0:
            return pad.show(_M_CANCELLED if n == P.CANCELLED else _M_TIMED_OUT)
        pinblock.build(pin, n, old)
        wipe(pin)
        # the new PIN, twice; a weak one or a mismatch asks again, saying why
        why = None
        while True:
            n = P.enter_pin(pad, pin, ms, _ENTER_NEW, why)
            if n < 0:
                return pad.show(_M_CANCELLED if n == P.CANCELLED else _M_TIMED_OUT)
            why = weakpin.reason(pin, n, hid)
            if why:
                why += weakpin.WEAK  # the rule's message
                wipe(pin)
                continue
            m = P.enter_pin(pad, again, ms, _NEW_AGAIN)
            if m < 0:
                return pad.show(_M_CANCELLED if m == P.CANCELLED else _M_TIMED_OUT)
            m ^= n  # the lengths (both PIN_LEN), then every digit, compared
            for i in range(n):
                m |= pin[i] ^ again[i]
            if not m:
                break
            wipe(pin)
            wipe(again)
            why = _PINS_DIFFER
        weakpin = None  # its room for the command
        pad.show(_M_CHECKING)
        pinblock.build(pin, n, new)
        wipe(pin)
        wipe(again)
        # the pending attempt is durable before the command leaves the pad
        pad.retry.begin(cid, tries, auth)
        # CHANGE PIN `84 5E 01 00 Lc E_old E_new M`: both blocks enciphered under SK_pin
        # of one challenge, M under SK_mac (protocol.md 4), the answer as the VERIFY's
        r = c.challenge()
        f = sam.factors(c, r)
        sam.init(_T_PIN, c.kv[0], f)
        x = bytearray(sam.cipher(0, old, len(old)))
        x.extend(sam.cipher(0, new, len(new)))
        sw = secure._secured(c, sam, r, f, x, b"\x84\x5e\x01\x00")
    except secure.Plain as e:
        sw = e.sw | 0x10000
    except SecurityError:
        sw = -1
    finally:
        wipe(pin)
        wipe(again)
        wipe(old)
        wipe(new)
    what = R.ERROR
    if not sw >> 16:  # the outcome, authenticated by its MAC
        what = pad.retry.outcome(cid, sw, True)
    elif sw < 0:  # a forged answer, or a plain word: no evidence (as for the VERIFY)
        j.append(_J_TAMPER, cid, bytes((_R_FORGED,)))
    else:
        pad.retry.outcome(cid, sw & 0xFFFF)  # PIN_ERROR with the SW
    if what == R.OK:  # the old PIN was right (PIN_OK ends the run) and the PIN is new
        j.append(_J_CHANGE, cid)
    pad._state("out", cid)
    if what == R.OK:
        pad.show(_PIN_CHANGED)
    elif what == R.LOCKED:
        pad.show(_M_LOCKED)
    elif what == R.WRONG:  # the tries left: the card's, or fewer under the pad's limit
        pad.show(_M_PIN_WRONG, min(sw & 15, pad.cfg["pad_limit"] - pad.retry.state(cid)[0]))
    else:  # nothing settled (the attempt stays pending): the authenticated read settles
        try:  # it now (else it counts as failed)
            pad._resolve(c, sam)
        except (SecurityError, StatusError):
            pass
        pad.show(_M_CARD_ERROR)
