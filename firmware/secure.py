# The secure exchanges between card and PSAM (DESIGN section 3, docs/protocol.md section 6).
# Synchronous primitives: no screen, no journal; the flows call them and record the facts.
import os

import psam as P
from errors import ProtocolError, SecurityError, StatusError


class NotDelivered(StatusError):
    """The card refused before spending a try (6984 no valid challenge, 6988 bad MAC)."""


def ct_equal(a, b):
    """Compare MACs in constant time."""
    r = len(a) ^ len(b)
    for i in range(min(len(a), len(b))):
        r |= a[i] ^ b[i]
    return r == 0


def authenticate(card, sam):
    """INTERNAL AUTHENTICATE with a fresh random, checked by the PSAM: refuses clones."""
    x = bytearray(os.urandom(8))
    got = card.command(b"\x00\x88\x00\x00", x)
    if got[1] != 0x9000:
        raise StatusError(got[1], "INTERNAL AUTHENTICATE")
    if card.block == 16:
        for i in range(8):
            x.append(x[i] ^ 0xFF)
    sam.init(P.T_IA, card.kv[1], sam.factors(card))
    if not ct_equal(got[0], sam.cipher(0, x, len(x))):
        raise SecurityError("card authentication failed")


def verify(card, sam, block):
    """One secure VERIFY of the plaintext PIN block; returns the card's authenticated SW.

    NotDelivered: the card refused before spending; SecurityError: its answer is forged;
    other errors: the exchange broke (the caller resolves the pending attempt)."""
    r = card.challenge()
    f = sam.factors(card, r)
    sam.init(P.T_PIN, card.kv[0], f)
    e = bytearray(sam.cipher(0, block, len(block)))
    sam.init(P.T_MAC, card.kv[2], f)
    iv = bytearray(r)
    if card.block == 16:
        iv.extend(bytes(8))
    mac_in = bytearray(iv)
    mac_in.extend(b"\x04\x20\x00\x00")
    mac_in.append(len(e) + 4)
    mac_in.extend(e)
    m = sam.cipher(5, mac_in, 4)
    e.extend(m)
    data, sw = card.command(b"\x04\x20\x00\x00", e)
    if sw == 0x6984 or sw == 0x6988:
        raise NotDelivered(sw, "card refused")
    if sw != 0x9000:
        raise StatusError(sw, "VERIFY")
    if len(data) != 10 or data[0:2] != b"\x99\x02" or data[4:6] != b"\x8e\x04":
        raise ProtocolError("secure answer malformed")
    mac_in = iv
    mac_in.extend(m)
    mac_in.extend(data[0:4])
    if not ct_equal(sam.cipher(5, mac_in, 4), data[6:10]):
        raise SecurityError("card answer MAC forged")
    return data[2] << 8 | data[3]
