# The social-security card's command set (docs/protocol.md sections 1 and 4).
# Takes the T=0 transport below it; returns facts, raises errors.
from micropython import const

from errors import ProtocolError, Refused, StatusError

SW_OK = const(0x9000)
SW_BLOCKED = const(0x6983)
SW_NO_CHALLENGE = const(0x6984)
SW_BAD_MAC = const(0x6988)
SW_NOT_FOUND = const(0x6A82)

SUITE_SM4 = const(1)
SUITE_3DES = const(2)
ID_LEN = const(38)

MF_NAME = b"sx1.sh.\xc9\xe7\xbb\xe1\xb1\xa3\xd5\xcf"  # sx1.sh.社会保障, GBK
DF01_AID = b"\xd1\x56\x00\x00\x05\x90"
RID = b"\xd1\x56\x00\x00\x05"


def tries_from_sw(sw):
    """Tries left from a VERIFY status word: 63Cx -> x, 6983 -> 0, 9000 -> None."""
    if sw & 0xFFF0 == 0x63C0:
        return sw & 0x0F
    if sw == SW_BLOCKED:
        return 0
    if sw == SW_OK:
        return None
    raise StatusError(sw, "VERIFY")


class Identity:
    """The card's identification data (EF05); the holder's ID number is not in it."""

    def __init__(self, raw):
        if len(raw) != ID_LEN:
            raise ProtocolError("identification data: %d bytes, expected %d" % (len(raw), ID_LEN))
        raw = bytes(raw)
        self.card_id = raw[0:16]
        if self.card_id[3:8] != RID:
            raise Refused("not a social security card (issuer)")
        self.region = raw[0:3]
        self.serial = raw[8:16]
        self.number = raw[16:25]
        self.suite = raw[25]
        if self.suite not in (SUITE_SM4, SUITE_3DES):
            raise Refused("unknown algorithm suite %d" % self.suite)
        self.kv_pin = raw[26]
        self.kv_ia = raw[27]
        self.kv_mac = raw[28]
        self.kv_unblock = raw[29]
        self.expiry = raw[34:38]

    def block(self):
        return 16 if self.suite == SUITE_SM4 else 8


def _ok(resp, what):
    data, sw = resp
    if sw != SW_OK:
        raise StatusError(sw, what)
    return data


class Card:
    def __init__(self, t0):
        self.t0 = t0

    def select(self):
        """SELECT MF by name, then the social-security application DF01."""
        for name, what in ((MF_NAME, "SELECT MF"), (DF01_AID, "SELECT DF01")):
            data, sw = self.t0.transmit(b"\x00\xa4\x04\x00" + bytes((len(name),)) + name)
            if sw == SW_NOT_FOUND or sw & 0xFF00 == 0x6A00 or sw == 0x6D00 or sw == 0x6E00:
                raise Refused("not a social security card (%s %04X)" % (what, sw))
            if sw != SW_OK and sw & 0xFF00 != 0x6100:
                raise StatusError(sw, what)

    def identity(self):
        """READ BINARY EF05 (Le 00: the T=0 layer follows the card's 6Cxx)."""
        return Identity(_ok(self.t0.transmit(b"\x00\xb0\x85\x00\x00"), "READ EF05"))

    def holder_id(self):
        """EF06: the holder's ID number, for the flows that must compare it (never journaled)."""
        data = _ok(self.t0.transmit(b"\x00\xb0\x86\x00\x12"), "READ EF06")
        if len(data) != 18:
            raise ProtocolError("holder data: %d bytes" % len(data))
        return data

    def tries_left(self):
        """VERIFY with no data: tries left without spending one (None: already verified)."""
        _, sw = self.t0.transmit(b"\x00\x20\x00\x00")
        return tries_from_sw(sw)

    def challenge(self):
        data = _ok(self.t0.transmit(b"\x00\x84\x00\x00\x08"), "GET CHALLENGE")
        if len(data) != 8:
            raise ProtocolError("challenge: %d bytes" % len(data))
        return data

    def internal_auth(self, x):
        cmd = bytearray(b"\x00\x88\x00\x00\x08")
        cmd.extend(x)
        cmd.append(0)
        return _ok(self.t0.transmit(cmd), "INTERNAL AUTHENTICATE")

    def secured(self, header, body, mac):
        """Send a secured command (CLA 04/84) as case 4; returns (sm_data, sw)."""
        cmd = bytearray(header)
        cmd.append(len(body) + len(mac))
        cmd.extend(body)
        cmd.extend(mac)
        cmd.append(0)
        return self.t0.transmit(cmd)
