# The PSAM's command set (docs/protocol.md section 5): the pad's only key holder.
from micropython import const

from card import xfer
from errors import Error, fault

_PSAM = const(10)  # errors.py: the PSAM's fault, a card not this pad's
_REFUSED = const(9)
T_PIN = const(0x01)
T_IA = const(0x02)
T_MAC = const(0x04)


class Psam:
    def __init__(self, t0):
        """SELECT the PSAM application; read its terminal number and issuer info."""
        self.t0 = t0
        self._x(b"\x00\xa4\x00\x00\x02\x10\x01", 0)
        self.terminal = self._x(b"\x00\xb0\x96\x00\x06", 6)
        info = self._x(b"\x00\xb0\x97\x00\x08", 8)
        if not 1 <= info[3] <= 3:
            raise fault(_PSAM, "PSAM issuer info")
        self.info = info  # region (3 BCD), level, suite, key versions PIN, IA, MAC

    def _x(self, apdu, n=None):
        """One PSAM command: its data (n bytes if given). Any failure is the PSAM's fault
        (code 10), so the flows tell a PSAM fault from a card fault."""
        try:
            out = xfer(self.t0, apdu, "PSAM %02X%02X" % (apdu[0], apdu[1]))
        except Error as e:
            raise fault(_PSAM, str(e))
        if n is not None and len(out) != n:
            raise fault(_PSAM, "PSAM answer: %d bytes" % len(out))
        return out

    def check(self, card):
        """Refused (code 9) unless this PSAM serves the card's region, suite and key
        versions: checked before anything is spent (a wrong key would burn the card's
        tries)."""
        i = self.info
        lvl = i[3]
        if card.suite != i[4] or card.region[:lvl] != i[:lvl] or card.kv[:3] != i[5:8]:
            raise fault(_REFUSED, "card of another region %02X%02X%02X" % tuple(card.region))

    def factors(self, card, session=None):
        """8-byte factors below the PSAM's level: region levels (the code at that level
        in ASCII, lower levels "00", then "sx"), card serial, [challenge]."""
        f = bytearray()
        r = card.region  # BCD: its hex digits are the code's
        for lvl in range(self.info[3] + 1, 4):
            f.extend(b"%02x%02x%02xsx" % (r[0], r[1] if lvl > 1 else 0, r[2] if lvl > 2 else 0))
        f.extend(card.serial)
        if session:
            f.extend(session)
        return f

    def init(self, ktype, kver, factors):
        """INIT FOR DESCRYPT: P1 = number of factors << 5 | key type, P2 = key version."""
        cmd = bytearray((0x80, 0x1A, (len(factors) >> 3 << 5) | ktype, kver, len(factors)))
        cmd.extend(factors)
        self._x(cmd)

    def cipher(self, p1, data, n):
        """CIPHER DATA (p1 0: encrypt, 5: MAC with the IV leading data); n bytes back.
        The command holds a copy of data (the clear PIN block): one buffer, allocated at
        its final size (a bytearray grown by extend leaves its old copy in freed heap),
        wiped on every path before it is dropped."""
        ln = len(data)
        cmd = bytearray(ln + 6)
        cmd[0] = 0x80
        cmd[1] = 0xFA
        cmd[2] = p1
        cmd[4] = ln
        cmd[5:5 + ln] = data
        try:
            return self._x(cmd, n)
        finally:
            for i in range(5, 5 + ln):
                cmd[i] = 0
