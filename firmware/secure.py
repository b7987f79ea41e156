# The secure exchanges between card and PSAM (DESIGN section 3, docs/protocol.md section 6).
# Synchronous primitives: no screen, no journal; the flows call them and record the facts.
import sys

import psam as P
from card import tries
from cmac import ct_eq as ct_equal, rand  # (resident: the journal's MAC needs cmac from boot)
from errors import SecurityError, StatusError, fault


class Plain(StatusError):
    """A plain status word where the pad asked for an answer under secure messaging: no
    evidence.  To the authenticated tries-left read: the card does not offer it (a legacy
    card's 6700), or something on the wire answered; to the VERIFY: 6984 / 6988 (the card
    says it refused before spending a try; a device on the wire can say so too) or any
    other refusal."""


def authenticate(card, sam):
    """INTERNAL AUTHENTICATE with a fresh random, checked by the PSAM: refuses clones. One
    wire after the other: the window's (winauth.py) and the PIN change's (change.py), whose
    heaps have no room for genuine() (the change flow's, beside change.py and weakpin.py,
    found none once in `padctl demo` from an installed package)."""
    x = rand(bytearray(8), 16)  # 16 left: the PIN block's draw never refills
    got = card.command(b"\x00\x88\x00\x00", x)
    if got[1] != 0x9000:
        raise StatusError(got[1], "INTERNAL AUTHENTICATE")
    if card.block == 16:
        for i in range(8):
            x.append(x[i] ^ 0xFF)
    sam.init(P.T_IA, card.kv[1], sam.factors(card))
    if not ct_equal(got[0], sam.cipher(0, x, len(x))):
        raise SecurityError("card authentication failed")


def genuine(card, sam):
    """authenticate() with the PSAM's part at the card's pauses (genuine.py, loaded for it
    and dropped): the VERIFY at the counter (verify.py)."""
    try:
        import genuine
    except MemoryError:  # no room for its code in this heap now (seen in `padctl demo` on
        sys.modules.pop("genuine", None)  # a fresh clone): one wire after the other, as
        return authenticate(card, sam)  # the pad did before (nothing sent to either yet)
    try:
        genuine.check(card, sam)
    finally:
        sys.modules.pop("genuine", None)


def _secured(card, sam, r, f, e, head=b"\x04\x20\x00\x00"):
    """Sends the secured command `head Lc e M` (the VERIFY `04 20 00 00` by default), M
    the MAC under SK_mac of the challenge r (factors f) over `head Lc e`; returns the
    status word inside its SM answer once the PSAM has recomputed M' (protocol.md 4 and 6,
    steps 6-8).

    Plain: the card answered a plain status word; SecurityError: the answer is forged."""
    sam.init(P.T_MAC, card.kv[2], f)
    iv = bytearray(r)
    if card.block == 16:
        iv.extend(bytes(8))
    mac_in = bytearray(iv)
    mac_in.extend(head)
    mac_in.append(len(e) + 4)
    mac_in.extend(e)
    n = len(iv)
    if e:  # a block or more after the IV: the IV folded into the first, a zero-IV MAC (CBC
        for i in range(n):  # takes the IV only there), the IV's bytes not sent (protocol.md
            mac_in[n + i] ^= mac_in[i]  # 5: P1 01)
        m = sam.cipher(1, memoryview(mac_in)[n:], 4)
    else:
        m = sam.cipher(5, mac_in, 4)
    e.extend(m)
    data, sw = card.command(head, e)
    if sw != 0x9000:
        raise Plain(sw, "card refused")
    if len(data) != 10 or data[0:2] != b"\x99\x02" or data[4:6] != b"\x8e\x04":
        raise fault(6, "secure answer malformed")
    mac_in = iv
    mac_in.extend(m)
    mac_in.extend(data[0:4])
    if not ct_equal(sam.cipher(5, mac_in, 4), data[6:10]):
        raise SecurityError("card answer MAC forged")
    return data[2] << 8 | data[3]


def tries_left(card, sam):
    """The card's tries left, authenticated (protocol.md 4): GET CHALLENGE R, then the
    no-data VERIFY under secure messaging `04 20 00 00 04 M`, its SM answer `63Cx` /
    `6983` checked through the PSAM.  Spends no try.

    Plain: the card does not offer it, or something on the wire answered plainly;
    SecurityError: the answer is forged."""
    r = card.challenge()
    return tries(_secured(card, sam, r, sam.factors(card, r), bytearray()))


def prepare(card, sam):
    """The VERIFY's first steps, taken while the holder types (verify.py): the card's
    challenge R and the PSAM's PIN session key of it (INIT under Kc_pin); (R, factors)
    for verify. Nothing goes to the card between them and the VERIFY: R stays the card's
    current challenge."""
    r = card.challenge()
    f = sam.factors(card, r)
    sam.init(P.T_PIN, card.kv[0], f)
    return r, f


def verify(card, sam, block, rf=None):
    """One secure VERIFY of the plaintext PIN block; returns the card's authenticated SW.
    rf: prepare()'s (R, factors), taken before the PIN was typed (None: taken now).

    Plain: a plain status word (6984 / 6988: the card says it refused before spending;
    nothing proves it); SecurityError: its answer is forged; other errors: the exchange
    broke (the caller resolves the pending attempt)."""
    r, f = rf or prepare(card, sam)
    return _secured(card, sam, r, f, bytearray(sam.cipher(0, block, len(block))))

