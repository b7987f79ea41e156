# The PSAM's command set (docs/protocol.md section 5): the pad's only key holder.
from micropython import const

from errors import ProtocolError, Refused, StatusError

T_PIN = const(0x01)
T_IA = const(0x02)
T_MAC = const(0x04)

_SW_OK = const(0x9000)


def _ok(resp, what):
    data, sw = resp
    if sw != _SW_OK:
        raise StatusError(sw, "PSAM " + what)
    return data


def _bcd_digits(b):
    s = ""
    for x in b:
        s += "%02X" % x
    return s


class Psam:
    def __init__(self, t0):
        self.t0 = t0
        self.terminal = None
        self.region = None
        self.level = 0
        self.suite = 0
        self.kv = None

    def open(self):
        """SELECT the PSAM application and read its terminal number and issuer info."""
        _ok(self.t0.transmit(b"\x00\xa4\x00\x00\x02\x10\x01"), "SELECT")
        self.terminal = _ok(self.t0.transmit(b"\x00\xb0\x96\x00\x06"), "READ terminal")
        info = _ok(self.t0.transmit(b"\x00\xb0\x97\x00\x08"), "READ issuer")
        if len(info) != 8 or not 1 <= info[3] <= 3:
            raise ProtocolError("PSAM issuer info malformed")
        self.region = bytes(info[0:3])
        self.level = info[3]
        self.suite = info[4]
        self.kv = bytes(info[5:8])  # PIN-enc, internal-auth, MAC

    def refusal(self, ident):
        """Why this PSAM cannot serve the card (None if it can), checked before anything is spent."""
        if ident.suite != self.suite:
            return "suite"
        if ident.region[:self.level] != self.region[:self.level]:
            return "region"
        if (ident.kv_pin, ident.kv_ia, ident.kv_mac) != (self.kv[0], self.kv[1], self.kv[2]):
            return "key version"
        return None

    def check(self, ident):
        why = self.refusal(ident)
        if why:
            raise Refused("card of another region (%s %s)" % (why, _bcd_digits(ident.region)))

    def factors(self, ident, session=None):
        """The 8-byte factors below the PSAM's level: region levels, card serial, [challenge]."""
        f = bytearray()
        for lvl in range(self.level + 1, 4):
            code = bytearray(8)
            code[0:lvl] = ident.region[0:lvl]
            f.extend(code)
        f.extend(ident.serial)
        if session is not None:
            f.extend(session)
        return f

    def init(self, ktype, kver, factors):
        n = len(factors) // 8
        cmd = bytearray((0x80, 0x1A, (n << 5) | ktype, kver, len(factors)))
        cmd.extend(factors)
        _ok(self.t0.transmit(cmd), "INIT FOR DESCRYPT")

    def encrypt(self, data):
        cmd = bytearray((0x80, 0xFA, 0x00, 0x00, len(data)))
        cmd.extend(data)
        cmd.append(0)
        out = _ok(self.t0.transmit(cmd), "CIPHER DATA")
        if len(out) != len(data):
            raise ProtocolError("PSAM cryptogram %d bytes" % len(out))
        return out

    def mac(self, iv, data):
        cmd = bytearray((0x80, 0xFA, 0x05, 0x00, len(iv) + len(data)))
        cmd.extend(iv)
        cmd.extend(data)
        cmd.append(0)
        out = _ok(self.t0.transmit(cmd), "CIPHER DATA MAC")
        if len(out) != 4:
            raise ProtocolError("PSAM MAC %d bytes" % len(out))
        return out
