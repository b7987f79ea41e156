# The secure exchanges between card and PSAM (DESIGN section 3, docs/protocol.md section 6).
# Synchronous primitives: no screen, no journal; flows call them and record the facts.
import os

from micropython import const

import psam as _psam
from card import SW_BAD_MAC, SW_NO_CHALLENGE, SW_OK, SUITE_SM4
from errors import ProtocolError, SecurityError, StatusError

_VERIFY = b"\x04\x20\x00\x00"


class NotDelivered(StatusError):
    """The card refused before spending a try (6984 no valid challenge, 6988 bad MAC)."""


def ct_equal(a, b):
    """Compare MACs in constant time."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def _iv(ident, r):
    if ident.suite == SUITE_SM4:
        return bytes(r) + bytes(8)
    return bytes(r)


def authenticate(card, sam, ident):
    """INTERNAL AUTHENTICATE with a fresh random, checked by the PSAM: refuses clones."""
    x = os.urandom(8)
    got = card.internal_auth(x)
    blk = bytearray(x)
    if ident.suite == SUITE_SM4:
        for b in x:
            blk.append(b ^ 0xFF)
    sam.init(_psam.T_IA, ident.kv_ia, sam.factors(ident))
    want = sam.encrypt(blk)
    if not ct_equal(got, want):
        raise SecurityError("card authentication failed")


def _sm_answer(sam, iv, mac, data, sw):
    """Check the card's secure-messaging answer `99 02 SW 8E 04 M'`; returns the inner SW."""
    if sw in (SW_NO_CHALLENGE, SW_BAD_MAC):
        raise NotDelivered(sw, "card refused")
    if sw != SW_OK:
        raise StatusError(sw, "secure command")
    if len(data) != 10 or data[0] != 0x99 or data[1] != 2 or data[4] != 0x8E or data[5] != 4:
        raise ProtocolError("secure answer malformed")
    want = sam.mac(iv, bytes(mac) + bytes(data[0:4]))
    if not ct_equal(want, data[6:10]):
        raise SecurityError("card answer MAC forged")
    return (data[2] << 8) | data[3]


def verify(card, sam, ident, block):
    """One secure VERIFY of the plaintext PIN block; returns the card's authenticated SW.

    Raises NotDelivered if the card refused before spending; SecurityError if its answer
    is forged; other errors if the exchange broke (the caller resolves the pending attempt).
    """
    r = card.challenge()
    f = sam.factors(ident, r)
    sam.init(_psam.T_PIN, ident.kv_pin, f)
    e = sam.encrypt(block)
    sam.init(_psam.T_MAC, ident.kv_mac, f)
    iv = _iv(ident, r)
    hdr = bytearray(_VERIFY)
    hdr.append(len(e) + 4)
    hdr.extend(e)
    m = sam.mac(iv, hdr)
    data, sw = card.secured(_VERIFY, e, m)
    return _sm_answer(sam, iv, m, data, sw)
