# ISO 7816-4 short APDUs and status words.
# Convention: an answer is the tuple (data, sw): data is bytes (maybe empty), sw an int
# such as 0x9000. Malformed input from the caller is a ValueError (a bug in the pad);
# a malformed status word from a card is a ProtocolError.
from micropython import const

from errors import ProtocolError

SW_OK = const(0x9000)
SW_BLOCKED = const(0x6983)


def _check_ins(ins):
    if ins & 0xF0 in (0x60, 0x90):
        raise ValueError("INS %02X is invalid (6X and 9X are reserved)" % ins)


def build(cla, ins, p1, p2, data=None, le=None):
    """A short APDU as bytes. data: up to 255 bytes (None or empty: no data field);
    le: None (no Le field) or 1..256 (256 is encoded 00)."""
    for name, v in (("CLA", cla), ("INS", ins), ("P1", p1), ("P2", p2)):
        if not 0 <= v <= 0xFF:
            raise ValueError("%s %r out of range" % (name, v))
    _check_ins(ins)
    n = len(data) if data else 0
    if n > 255:
        raise ValueError("data of %d bytes: short APDUs carry at most 255" % n)
    if le is not None and not 1 <= le <= 256:
        raise ValueError("le %r out of range 1..256 (256 is sent as 00)" % (le,))
    out = bytearray((cla, ins, p1, p2))
    if n:
        out.append(n)
        out.extend(data)
    if le is not None:
        out.append(le & 0xFF)
    return bytes(out)


def case_of(cla, ins, p1, p2, data=None, le=None):
    """ISO 7816-3 case of a command: 1 no data no Le, 2 Le only, 3 data only, 4 both."""
    return 1 + (1 if le is not None else 0) + (2 if data else 0)


def parse(apdu):
    """(case, nc, ne) of a raw short APDU; ne 256 for an Le byte 00. ValueError if malformed."""
    n = len(apdu)
    if n < 4:
        raise ValueError("APDU of %d bytes: a header is 4" % n)
    _check_ins(apdu[1])
    if n == 4:
        return 1, 0, 0
    if n == 5:
        return 2, 0, apdu[4] or 256
    lc = apdu[4]
    if lc == 0:
        raise ValueError("Lc 00: extended APDUs are not supported")
    if n == 5 + lc:
        return 3, lc, 0
    if n == 6 + lc:
        return 4, lc, apdu[n - 1] or 256
    raise ValueError("APDU of %d bytes does not match Lc %d" % (n, lc))


def valid_sw1(sw1):
    """SW1 must be 6X (X not 0) or 9X."""
    return 0x61 <= sw1 <= 0x6F or 0x90 <= sw1 <= 0x9F


def make_sw(sw1, sw2):
    """The status word as an int; ProtocolError when SW1 is not 6X/9X."""
    if not valid_sw1(sw1) or not 0 <= sw2 <= 0xFF:
        raise ProtocolError("malformed status word %02X%02X" % (sw1 & 0xFF, sw2 & 0xFF))
    return sw1 << 8 | sw2


def split(resp):
    """(data, sw) from a raw answer data || SW1 SW2."""
    n = len(resp)
    if n < 2:
        raise ProtocolError("answer of %d bytes has no status word" % n)
    return bytes(resp[:n - 2]), make_sw(resp[n - 2], resp[n - 1])


def sw_ok(sw):
    return sw == SW_OK


def tries_left(sw):
    """Tries left from a PIN status word: 63Cx -> x, 6983 (blocked) -> 0, else None."""
    if sw & 0xFFF0 == 0x63C0:
        return sw & 0x0F
    if sw == SW_BLOCKED:
        return 0
    return None


_NAMES = {
    0x9000: "ok",
    0x6700: "wrong length",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6984: "reference data not usable (no valid challenge)",
    0x6985: "conditions of use not satisfied",
    0x6988: "incorrect secure messaging data (MAC)",
    0x6A82: "file or application not found",
    0x6A86: "incorrect P1-P2",
    0x6A88: "referenced data not found",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
}


def sw_name(sw):
    """A short text for a status word, for logs and screens."""
    name = _NAMES.get(sw)
    if name:
        return name
    sw1 = sw >> 8
    if sw1 == 0x61:
        return "%d bytes available" % ((sw & 0xFF) or 256)
    if sw1 == 0x6C:
        return "wrong Le, exact length %d" % ((sw & 0xFF) or 256)
    if sw & 0xFFF0 == 0x63C0:
        return "verification failed, %d tries left" % (sw & 0x0F)
    return "status %04X" % sw
