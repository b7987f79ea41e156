# The PIN verification flow (DESIGN section 5, docs/protocol.md section 6): one attempt
# at the PIN of an identified card of this PSAM's region. Loaded by app.Pad.session for
# its card and dropped after (one module per flow: verify, change, unlock, reset).
from micropython import const

import journal as J
import messages as M
import pin_entry
import pinblock
import retry as R
import secure
from errors import SecurityError, StatusError

_R_NOT_GENUINE = const(3)  # app.py's reasons (protocol.md section 6)
_R_FORGED = const(6)


def run(pad, c, sam):
    """Is the card genuine, its tries left (a pending attempt settled), the PIN, the
    secure VERIFY, the outcome on the screen and in the journal."""
    j, cid = pad.journal, c.card_id
    pad._state("pre", cid)
    # is the card genuine?
    try:
        secure.authenticate(c, sam)
    except SecurityError:
        j.event(J.CARD_REFUSED, cid, bytes((_R_NOT_GENUINE,)))
        return pad.show(M.NOT_GENUINE)
    # its tries left; settle what a power cut left open
    try:
        tries, auth = pad._resolve(c, sam)
    except SecurityError:
        return pad.show(M.CARD_ERROR)
    pad._state("post", cid)
    # locked here or on the card: say so, spend nothing
    if tries is None:
        tries = pad.cfg["card_limit"]
    f, _, lk = pad.retry.state(cid)
    if tries == 0 or lk:
        if not lk:
            j.append(J.LOCK, cid, bytes((0, f)))  # found locked
        return pad.show(M.LOCKED)
    if not j.fits(pad.retry.worst_case("verify")):  # (checked at insertion too)
        j.event(J.FULL, cid)
        return pad.show(M.LOG_FULL)
    # the PIN, as a PIN block
    wipe = pinblock.wipe
    block = bytearray(c.block)  # before the entry: no allocation between PIN and wipe
    c.t0.until = None  # PIN entry starts: the session cap is over, the command cap stays
    # enter_pin wipes pad.pin on Cancel, time-out, a pulled card, any exception
    n = pin_entry.enter_pin(pad, pad.pin, pad.cfg["pin_timeout_s"] * 1000)
    if n == pin_entry.CANCELLED:
        return pad.show(M.CANCELLED)
    if n == pin_entry.TIMED_OUT:
        return pad.show(M.TIMED_OUT)
    try:  # from here on every path ends in the finally: pad.pin and block wiped
        pad.show(M.CHECKING)
        pinblock.build(pad.pin, n, block)
        wipe(pad.pin)
        # the pending attempt is durable before the VERIFY leaves the pad
        pad.retry.begin(cid, tries, auth)
        sw = secure.verify(c, sam, block)
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
            j.append(J.TAMPER, cid, bytes((_R_FORGED,)))
        else:
            pad.retry.outcome(cid, sw & 0xFFFF)  # PIN_ERROR with the SW
        try:
            pad._resolve(c, sam)
        except (SecurityError, StatusError):
            pass  # settled as failed
        return pad.show(M.CARD_ERROR)
    # the outcome, authenticated by its MAC
    what = pad.retry.outcome(cid, sw, True)
    pad._state("out", cid)
    if what == R.OK:
        pad.show(M.PIN_OK)
    elif what == R.LOCKED:
        pad.show(M.LOCKED)
    else:  # the tries left: the card's, or fewer where the pad's own limit is lower
        f = pad.retry.state(cid)[0]
        pad.show(M.PIN_WRONG, min(sw & 15, pad.cfg["pad_limit"] - f))
