# The social-security card's command set (docs/protocol.md sections 1 and 4).
# Takes the T=0 transport below it; returns facts, raises errors.
from micropython import const

from errors import StatusError, fault

_SELECT_MF = b"\x00\xa4\x04\x00\x0fsx1.sh.\xc9\xe7\xbb\xe1\xb1\xa3\xd5\xcf"  # sx1.sh.社会保障
_SELECT_DF01 = b"\x00\xa4\x04\x00\x06\xd1\x56\x00\x00\x05\x90"
_RID = b"\xd1\x56\x00\x00\x05"
_BAD_ANSWER = const(6)  # errors.py: a malformed answer
_REFUSED = const(9)  # errors.py: not a card this pad may serve
_ID_LEN = const(38)


def xfer(t0, apdu, what):
    """Transmit; the data if the status word is 9000, else StatusError."""
    data, sw = t0.transmit(apdu)
    if sw != 0x9000:
        raise StatusError(sw, what)
    return data


def tries(sw):
    """Tries left from a VERIFY status word: 63Cx -> x, 6983 -> 0, 9000 -> None."""
    if sw & 0xFFF0 == 0x63C0:
        return sw & 15
    if sw == 0x6983:
        return 0
    if sw != 0x9000:
        raise StatusError(sw, "VERIFY")
    return None


class Card:
    """One activation of a card; after identify() it carries the card's identity:
    card_id (16 bytes), region (3 BCD), serial (8), suite (1 SM4, 2 3DES), kv (key
    versions: PIN, internal auth, MAC, unblock), block (cipher block size)."""

    def __init__(self, t0):
        self.t0 = t0

    def identify(self):
        """SELECT DF01 by its AID (the MF is the current DF after the reset, ISO 7816-4:
        DF01 is found from it by name), else SELECT MF by name and DF01 again (a card that
        wants its MF named first); READ BINARY EF05 with its exact length (Le 26)."""
        _, sw = self.t0.transmit(_SELECT_DF01)
        if sw != 0x9000:
            for apdu in (_SELECT_MF, _SELECT_DF01):
                _, sw = self.t0.transmit(apdu)
                if sw != 0x9000:
                    raise fault(_REFUSED, "not a social security card (SELECT %04X)" % sw)
        raw = self.read(5, _ID_LEN)
        if raw[3:8] != _RID or raw[25] not in (1, 2):
            raise fault(_REFUSED, "not a social security card (EF05)")
        self.card_id = raw[0:16]
        self.region = raw[0:3]
        self.serial = raw[8:16]
        self.suite = raw[25]
        self.kv = raw[26:30]
        self.block = 16 if raw[25] == 1 else 8

    def read(self, sfi, n):
        """READ BINARY of the EF `sfi` with its exact length n as Le (no 6Cxx round trip:
        a card that answers 6Cxx all the same is followed by the T=0 layer): EF05 (38
        bytes, identify), EF06 (18: the holder's ID number, read only by the flows that
        compare it, never journaled or shown: protocol.md 1)."""
        raw = xfer(self.t0, bytes((0, 0xB0, 0x80 | sfi, 0, n)), "READ BINARY")
        if len(raw) != n:
            raise fault(_BAD_ANSWER, "EF%02d: %d bytes" % (sfi, len(raw)))
        return raw

    def tries_left(self):
        """VERIFY with no data: tries left, spending none (None: already verified)."""
        return tries(self.t0.transmit(b"\x00\x20\x00\x00")[1])

    def challenge(self):
        r = xfer(self.t0, b"\x00\x84\x00\x00\x08", "GET CHALLENGE")
        if len(r) != 8:
            raise fault(_BAD_ANSWER, "challenge: %d bytes" % len(r))
        return r

    def command(self, head, body, le=True):
        """A case-4 command (or case 3 with le=False): returns (data, sw)."""
        cmd = bytearray(head)
        cmd.append(len(body))
        cmd.extend(body)
        if le:
            cmd.append(0)
        return self.t0.transmit(cmd)
