# The PIN verification flow (DESIGN section 5, docs/protocol.md section 6): one attempt
# at the PIN of an identified card of this PSAM's region. Loaded by app.Pad.session for
# its card and dropped after (one module per flow: verify, change, unlock, reset).
from micropython import const

import pin_entry
import pinblock
import retry as R
import secure
from errors import SecurityError, StatusError

# journal kinds (journal.py; private here: a name costs RAM)
_J_TAMPER = const(3)
_J_LOCK = const(8)
_J_CARD_REFUSED = const(11)
_J_FULL = const(18)
# messages (messages.py: lines of lang_*.txt)
_M_PIN_OK = const(3)
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


def run(pad, c, sam):
    """Is the card genuine, its tries left (a pending attempt settled), the PIN, the
    secure VERIFY, the outcome on the screen and in the journal."""
    j, cid = pad.journal, c.card_id
    pad._state("pre", cid)
    # is the card genuine?
    try:
        secure.genuine(c, sam)
    except SecurityError:
        j.event(_J_CARD_REFUSED, cid, bytes((_R_NOT_GENUINE,)))
        return pad.show(_M_NOT_GENUINE)
    # its tries left; settle what a power cut left open
    try:
        tries, auth = pad._resolve(c, sam)
    except SecurityError:
        return pad.show(_M_CARD_ERROR)
    pad._state("post", cid)
    # locked here or on the card: say so, spend nothing
    if tries is None:
        tries = pad.cfg["card_limit"]
    f, _, lk = pad.retry.state(cid)
    if tries == 0 or lk:
        if not lk:
            j.append(_J_LOCK, cid, bytes((0, f)))  # found locked
        return pad.show(_M_LOCKED)
    if not j.fits(pad.retry.worst_case("verify")):  # (checked at insertion too)
        j.event(_J_FULL, cid)
        return pad.show(_M_LOG_FULL)
    # the card's challenge and the PSAM's PIN key of it, before the PIN is typed: after
    # Enter only the PIN block's encipherment, the MAC and the VERIFY remain (a card error
    # here spends nothing: no PENDING yet)
    rf = secure.prepare(c, sam)
    # the PIN, as a PIN block
    wipe = pinblock.wipe
    block = bytearray(c.block)  # before the entry: no allocation between PIN and wipe
    c.t0.until = None  # PIN entry starts: the session cap is over, the command cap stays
    # enter_pin wipes pad.pin on Cancel, time-out, a pulled card, any exception
    n = pin_entry.enter_pin(pad, pad.pin, pad.cfg["pin_timeout_s"] * 1000)
    if n == pin_entry.CANCELLED:
        return pad.show(_M_CANCELLED)
    if n == pin_entry.TIMED_OUT:
        return pad.show(_M_TIMED_OUT)
    try:  # from here on every path ends in the finally: pad.pin and block wiped
        pad.show(_M_CHECKING)
        pinblock.build(pad.pin, n, block)
        wipe(pad.pin)
        # the pending attempt is durable before the VERIFY leaves the pad
        pad.retry.begin(cid, tries, auth)
        sw = secure.verify(c, sam, block, rf)
    except secure.Plain as e:
        sw = e.sw | 0x10000
    except SecurityError:
        sw = -1
    finally:
        wipe(pad.pin)
        wipe(block)
    if sw >> 16:
        # a plain word (6984 / 6988: "refused before spending") or a forged answer
        # proves nothing: the attempt stays pending until the authenticated read
        # settles it (else it counts as failed)
        if sw < 0:
            j.append(_J_TAMPER, cid, bytes((_R_FORGED,)))
        else:
            pad.retry.outcome(cid, sw & 0xFFFF)  # PIN_ERROR with the SW
        try:
            pad._resolve(c, sam)
        except (SecurityError, StatusError):
            pass  # settled as failed
        return pad.show(_M_CARD_ERROR)
    # the outcome, authenticated by its MAC
    what = pad.retry.outcome(cid, sw, True)
    pad._state("out", cid)
    if what == R.OK:
        pad.show(_M_PIN_OK)
    elif what == R.LOCKED:
        pad.show(_M_LOCKED)
    else:  # the tries left: the card's, or fewer where the pad's own limit is lower
        f = pad.retry.state(cid)[0]
        pad.show(_M_PIN_WRONG, min(sw & 15, pad.cfg["pad_limit"] - f))
