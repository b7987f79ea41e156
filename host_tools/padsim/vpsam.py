"""The virtual PSAM: an APDU processor (docs/protocol.md section 5).

``VirtualPsam(path).process(apdu) -> response`` (data + SW), like ``VirtualCard``;
``reset()`` unloads the key. The PSAM holds its region's keys at the level it was
issued at (1 province, 2 prefecture, 3 city) for key types 01-04 only, and disperses
the remaining levels itself (INIT FOR DESCRYPT). It never holds the PIN-unblock,
PIN-reload or link keys (types 05, 06, 07): INIT for them answers ``6A88``.
Create the state file with ``personalise_psam`` (below: ``padctl.keys.write_psam``, as
``padctl issue psam`` writes it); TEST MATERIAL.
"""
import os
from pathlib import Path

from padctl.cardspec import (  # the PSAM's data, re-exported (__all__) for its users
    PSAM_KEY_TYPES, PSAM_STATE_FORMAT as STATE_FORMAT, SW_CONDITIONS, SW_NOT_FOUND, SW_OK,
    SW_UNKNOWN_CLA, SW_UNKNOWN_INS, SW_WRONG_DATA, SW_WRONG_LENGTH, SW_WRONG_P1P2, TEST_MARKER,
    StateError, T_EA, T_IA, T_MAC, T_PIN, bcd, check_region, new_psam_state, psam_state,
    read_state, region_at)
from padctl.crypto import Suite, disperse, encrypt, mac

from .vcard import _Bad, _read, _split, _sw

SW_NOT_HELD = 0x6A88
APP_FID = b"\x10\x01"
# Factors below the PSAM's level that INIT must carry beyond the region levels:
# the card serial (02, 03: card-level keys) or the serial and the challenge (01, 04:
# session keys). A key above the card level is never loaded, so CIPHER DATA cannot
# be used to compute a card key.
_EXTRA = {T_PIN: 2, T_IA: 1, T_EA: 1, T_MAC: 2}


class VirtualPsam:
    """A PSAM answering APDUs from its state file."""

    atr = None  # the slot's default PSAM ATR

    def __init__(self, path, ta1=None):
        """ta1: the Fi/Di its ATR offers (e.g. 0x13, 0x18; the slot answers the PPS)."""
        self.path = Path(path)
        if ta1 is not None:
            from .slot import PSAM_HISTORICAL, make_atr
            self.atr = make_atr(PSAM_HISTORICAL, ta1=ta1)
        self.rand = os.urandom  # GET CHALLENGE's source (a recorded transcript fixes it)
        d = psam_state(self.path)
        try:
            self.suite = Suite.parse(d["suite"])
            self.level = int(d["level"])
            self.region = region_at(d["region"], self.level)
            self.terminal = bcd(d["terminal"], 6)
            self.keys = {(int(t, 16), int(v)): bytes.fromhex(k)
                         for t, vs in d["keys"].items() for v, k in vs.items()}
            self.versions = {int(t, 16): int(v) for t, v in d["versions"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise StateError("PSAM state %s malformed: %s" % (self.path, e)) from None
        self.commands = 0
        self.reset()

    def reset(self):
        """Cold reset: no application selected, no key loaded."""
        self._selected = False
        self._key = None  # (key type, session-or-card key)

    def issuer_info(self):
        """Region (3 BCD), level, suite, key versions PIN-enc, internal-auth, MAC."""
        return (bcd(self.region) + bytes((self.level, int(self.suite)))
                + bytes(self.versions[t] for t in (T_PIN, T_IA, T_MAC)))

    def process(self, apdu):
        """One command APDU -> response data + SW (bytes)."""
        self.commands += 1
        apdu = bytes(apdu)
        try:
            if len(apdu) < 4:
                raise _Bad(SW_WRONG_LENGTH)
            handler = self._table.get((apdu[0], apdu[1]))
            if handler is None:
                if apdu[1] not in {i for _, i in self._table}:
                    raise _Bad(SW_UNKNOWN_INS)
                raise _Bad(SW_UNKNOWN_CLA)
            data, le = _split(apdu)
            return handler(self, apdu[2], apdu[3], data, le)
        except _Bad as e:
            return _sw(e.sw)

    def _select(self, p1, p2, data, le):
        if p1 != 0x00 or p2 not in (0x00, 0x0C):
            raise _Bad(SW_WRONG_P1P2)
        if data != APP_FID:
            raise _Bad(SW_NOT_FOUND)
        self._selected = True
        self._key = None
        return _sw(SW_OK)

    def _read_binary(self, p1, p2, data, le):
        if data or le is None:
            raise _Bad(SW_WRONG_LENGTH)
        files = {0x16: self.terminal, 0x17: self.issuer_info()}
        f = files.get(p1 & 0x1F) if p1 & 0xE0 == 0x80 else None
        if f is None:
            raise _Bad(SW_NOT_FOUND)
        return _read(f, p2, le)

    def _init(self, p1, p2, data, le):
        self._key = None  # a failed INIT leaves no key loaded
        if not self._selected:
            raise _Bad(SW_CONDITIONS)
        n, ktype = p1 >> 5, p1 & 0x1F
        if n == 0 or len(data) != 8 * n:
            raise _Bad(SW_WRONG_LENGTH)
        key = self.keys.get((ktype, p2)) if ktype in PSAM_KEY_TYPES else None
        if key is None:
            raise _Bad(SW_NOT_HELD)
        below = 3 - self.level  # region levels still to disperse
        if n != below + _EXTRA[ktype]:
            raise _Bad(SW_WRONG_P1P2)
        own = self.region[:2 * self.level].encode()
        for i in range(below):
            lvl = self.level + 1 + i
            f = data[8 * i:8 * i + 8]
            if (f[:2 * self.level] != own or not f[:6].isdigit() or f[6:] != b"sx"
                    or f[2 * lvl:6] != b"0" * (6 - 2 * lvl)):
                raise _Bad(SW_WRONG_DATA)
        for i in range(n):
            key = disperse(self.suite, key, data[8 * i:8 * i + 8])
        self._key = (ktype, key)
        return _sw(SW_OK)

    def _cipher(self, p1, p2, data, le):
        if p2 or p1 not in (0x00, 0x01, 0x05):  # bit 1 (more blocks) is not supported
            raise _Bad(SW_WRONG_P1P2)
        if self._key is None:
            raise _Bad(SW_CONDITIONS)
        ktype, key = self._key
        bs = self.suite.block
        if p1 == 0x00:
            if ktype == T_MAC:
                raise _Bad(SW_CONDITIONS)  # MAC keys only MAC
            if not data or len(data) % bs:
                raise _Bad(SW_WRONG_LENGTH)
            return _sw(SW_OK, encrypt(self.suite, key, data))
        if ktype != T_MAC:
            raise _Bad(SW_CONDITIONS)  # only the MAC key MACs
        if p1 == 0x05:
            if len(data) < bs:
                raise _Bad(SW_WRONG_LENGTH)
            iv, data = data[:bs], data[bs:]
        else:
            iv = bytes(bs)
        return _sw(SW_OK, mac(self.suite, key, iv, data))

    def _get_challenge(self, p1, p2, data, le):
        # the pad reseeds its DRBG from it at every activation (firmware/psam.py)
        if p1 or p2:
            raise _Bad(SW_WRONG_P1P2)
        if data or le not in (4, 8):
            raise _Bad(SW_WRONG_LENGTH)
        return _sw(SW_OK, bytes(self.rand(le)))

    _table = {
        (0x00, 0x84): _get_challenge,
        (0x00, 0xA4): _select,
        (0x00, 0xB0): _read_binary,
        (0x80, 0x1A): _init,
        (0x80, 0xFA): _cipher,
    }


def personalise_psam(ks, path, *args, **kw):
    """Write a PSAM's state file from the keystore (``padctl.keys.write_psam``, same
    arguments); returns the ``VirtualPsam`` that answers from it."""
    from padctl.keys import write_psam
    write_psam(ks, path, *args, **kw)
    return VirtualPsam(path)


__all__ = ["VirtualPsam", "personalise_psam",  # and the PSAM's data (padctl.cardspec):
           "PSAM_KEY_TYPES", "STATE_FORMAT", "TEST_MARKER", "StateError", "check_region",
           "new_psam_state", "psam_state", "read_state", "region_at"]
