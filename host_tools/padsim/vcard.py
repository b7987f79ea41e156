"""The virtual social-security card: an APDU processor (docs/protocol.md sections 1 and 4).

``VirtualCard(path).process(apdu) -> response`` takes one command APDU (bytes, case
1-4; a trailing Le is optional on case-4 commands) and returns the response data
followed by SW1 SW2. The T=0 transport (``padsim.slot``) turns that into procedure
bytes, ``61xx`` and GET RESPONSE; GET RESPONSE never reaches the processor, so it does
not spend a challenge. ``reset()`` is the cold reset of a new activation.

The card's persistent state (PIN, retry counter, keys, identity, options) lives in a
JSON file, rewritten durably (temp file, fsync, rename, fsync of the directory) before
``process`` returns, so a test can kill the pad or the world and re-open the same card.
Create the file with ``personalise_card`` (below: ``padctl.keys.write_card``, as
``padctl issue card`` writes it); read it with ``card_state(path)``. Every file is TEST MATERIAL: the keys in it are generated.
"""
import os
from pathlib import Path

from padctl.cardspec import (  # the card's data, re-exported (__all__) for its users
    CARD_KEY_TYPES, DF01_AID, MF_NAME, RID, STATE_FORMAT, SW_BAD_MAC, SW_BLOCKED,
    SW_CONDITIONS, SW_NO_CHALLENGE, SW_NO_EF, SW_NOT_FOUND, SW_OFFSET, SW_OK,
    SW_PIN_IN_CLEAR, SW_UNKNOWN_CLA, SW_UNKNOWN_INS, SW_WRONG_DATA, SW_WRONG_LENGTH,
    SW_WRONG_P1P2, T_EA, T_IA, T_LINK, T_MAC, T_PIN, T_RELOAD, T_UNBLOCK, TEST_MARKER,
    Identity, StateError, bcd, card_state, check_region, new_card_state, read_state, unbcd,
    write_state)
from padctl.crypto import (PinBlockError, Suite, ct_equal, decrypt, disperse, encrypt, invert,
                           iv_from_challenge, mac, parse_pin_block)


# --- the card -------------------------------------------------------------------------

def _sw(sw, data=b""):
    return bytes(data) + bytes((sw >> 8, sw & 0xFF))


class _Bad(Exception):
    def __init__(self, sw):
        Exception.__init__(self, "%04X" % sw)
        self.sw = sw


class VirtualCard:
    """A social-security card (CPU card, T=0) answering APDUs from its state file."""

    atr = None  # the slot's default card ATR
    # a card that finds DF01 by its AID only once its MF was selected by name (the pad
    # then selects both: firmware/card.py); by default the MF is selected at reset and
    # DF01 found from it by name (ISO 7816-4)
    mf_first = False

    def __init__(self, path, ta1=None):
        """ta1: the Fi/Di its ATR offers (e.g. 0x13, 0x18; the slot answers the PPS)."""
        self.path = Path(path)
        if ta1 is not None:
            from .slot import CARD_HISTORICAL, make_atr
            self.atr = make_atr(CARD_HISTORICAL, ta1=ta1)
        self._load()
        self.reset()
        self.commands = 0  # processed since construction (for tests)
        # where GET CHALLENGE takes its 8 bytes; a test replaying a recorded exchange
        # (docs/protocol.md section 10) sets it to give a fixed challenge
        self.rand = os.urandom

    def _load(self):
        d = card_state(self.path)
        try:
            self.ident = Identity.from_json(d["identity"])
            self.keys = {int(t, 16): bytes.fromhex(k) for t, k in d["keys"].items()}
            self.holder_id = d["holder_id"].encode("ascii")
            self.limit = int(d["limit"])
            self.last_failure_sw = int(d["last_failure_sw"], 16)
            _ = int(d["tries"]), d["pin"]
            # offers the authenticated tries-left read (absent in older files: it does)
            self.auth_tries = bool(d.get("auth_tries", True))
        except (KeyError, TypeError, ValueError) as e:
            raise StateError("card state %s malformed: %s" % (self.path, e)) from None
        self._state = d

    def _save(self):
        write_state(self.path, self._state)

    @property
    def tries(self):
        return int(self._state["tries"])

    @property
    def suite(self):
        return self.ident.suite

    def reset(self):
        """Cold reset: the challenge is lost and the MF is selected."""
        self._challenge = None
        self._df01 = False
        self._mf = False  # selected by name since the reset (mf_first)

    # -- dispatch ------------------------------------------------------------------
    def process(self, apdu):
        """One command APDU -> response data + SW (bytes)."""
        self.commands += 1
        apdu = bytes(apdu)
        challenge, self._challenge = self._challenge, None  # any command spends it
        try:
            if len(apdu) < 4:
                raise _Bad(SW_WRONG_LENGTH)
            cla, ins = apdu[0], apdu[1]
            handler = self._table.get((cla, ins))
            if handler is None:
                if ins not in {i for _, i in self._table}:
                    raise _Bad(SW_UNKNOWN_INS)
                raise _Bad(SW_UNKNOWN_CLA)
            data, le = _split(apdu)
            return handler(self, apdu[2], apdu[3], data, le, apdu, challenge)
        except _Bad as e:
            return _sw(e.sw)

    # -- plain commands --------------------------------------------------------------
    def _select(self, p1, p2, data, le, apdu, challenge):
        if p1 != 0x04 or p2 not in (0x00, 0x0C):
            raise _Bad(SW_WRONG_P1P2)
        if data == MF_NAME:
            self._df01 = False
            self._mf = True
        elif data == DF01_AID and (self._mf or not self.mf_first):
            self._df01 = True
        else:
            raise _Bad(SW_NOT_FOUND)
        return _sw(SW_OK)

    def _read_binary(self, p1, p2, data, le, apdu, challenge):
        if data or le is None:
            raise _Bad(SW_WRONG_LENGTH)
        if not p1 & 0x80:
            raise _Bad(SW_NO_EF)
        files = {5: self.ident.ef05(), 6: self.holder_id}
        f = files.get(p1 & 0x1F)
        if f is None or (p1 & 0x60) or not self._df01:
            raise _Bad(SW_NOT_FOUND)
        return _read(f, p2, le)

    def _get_challenge(self, p1, p2, data, le, apdu, challenge):
        if p1 or p2:
            raise _Bad(SW_WRONG_P1P2)
        if data or le is None:
            raise _Bad(SW_WRONG_LENGTH)
        if le != 8:
            raise _Bad(0x6C08)
        self._challenge = bytes(self.rand(8))
        if len(self._challenge) != 8:
            raise ValueError("challenge source gave %d bytes" % len(self._challenge))
        return _sw(SW_OK, self._challenge)

    def _internal_auth(self, p1, p2, data, le, apdu, challenge):
        if p1 or p2:
            raise _Bad(SW_WRONG_P1P2)
        if len(data) != 8:
            raise _Bad(SW_WRONG_LENGTH)
        self._need_df01()
        blk = data + invert(data) if self.suite is Suite.SM4 else data
        return _sw(SW_OK, encrypt(self.suite, self.keys[T_IA], blk))

    def _verify_plain(self, p1, p2, data, le, apdu, challenge):
        if p1 or p2:
            raise _Bad(SW_WRONG_P1P2)
        self._need_df01()
        if data:
            raise _Bad(SW_PIN_IN_CLEAR)  # a PIN never crosses the card wire in clear
        return _sw(self._tries_sw())

    def _tries_sw(self):
        t = self.tries
        return SW_BLOCKED if t == 0 else 0x63C0 | t

    def _need_df01(self):
        if not self._df01:
            raise _Bad(SW_CONDITIONS)

    # -- secured commands (CLA 04 / 84) ------------------------------------------------
    def _open(self, apdu, data, body_len, mac_type, challenge):
        """Checks 1 and 2 of protocol.md section 4; returns (session, iv, M, body)."""
        self._need_df01()
        if len(data) != body_len + 4:
            raise _Bad(SW_WRONG_LENGTH)
        if challenge is None:
            raise _Bad(SW_NO_CHALLENGE)
        iv = iv_from_challenge(self.suite, challenge)
        body, m = data[:body_len], data[body_len:]
        sk = disperse(self.suite, self.keys[mac_type], challenge)
        if not ct_equal(mac(self.suite, sk, iv, apdu[:5] + body), m):
            raise _Bad(SW_BAD_MAC)
        return sk, iv, m, body

    def _answer(self, sk, iv, m, sw):
        """SM answer ``99 02 SW1 SW2 8E 04 M'`` with 9000."""
        do = bytes((0x99, 0x02, sw >> 8, sw & 0xFF))
        return _sw(SW_OK, do + b"\x8e\x04" + mac(self.suite, sk, iv, m + do))

    def _pin_of(self, e, challenge):
        """Decrypt a PIN block under SK_pin; None if malformed."""
        sk = disperse(self.suite, self.keys[T_PIN], challenge)
        try:
            return parse_pin_block(self.suite, decrypt(self.suite, sk, e))
        except PinBlockError:
            return None

    def _spend_try(self):
        """Step 4 first half: decrement the counter and persist it before comparing."""
        self._state["tries"] = self.tries - 1
        self._save()

    def _matches(self, pin):
        return pin is not None and ct_equal(pin.encode(), self._state["pin"].encode())

    def _failed(self):
        self._state["counts"]["verify_fail"] += 1
        self._save()
        t = self.tries
        return (0x63C0 | t) if t else self.last_failure_sw

    def _verify_secure(self, p1, p2, data, le, apdu, challenge):
        if p1 or p2:
            raise _Bad(SW_WRONG_P1P2)
        if len(data) == 4 and self.auth_tries:
            # the authenticated tries-left read: steps 1-2, then the counter in the SM
            # answer (63Cx, 6983), nothing spent; a legacy card answers 6700 (Lc)
            sk, iv, m, _ = self._open(apdu, data, 0, T_MAC, challenge)
            return self._answer(sk, iv, m, self._tries_sw())
        bs = self.suite.block
        sk, iv, m, body = self._open(apdu, data, bs, T_MAC, challenge)
        if self.tries == 0:
            return self._answer(sk, iv, m, SW_BLOCKED)
        self._spend_try()
        if self._matches(self._pin_of(body, challenge)):
            self._state["tries"] = self.limit
            self._state["counts"]["verify_ok"] += 1
            self._save()
            return self._answer(sk, iv, m, SW_OK)
        return self._answer(sk, iv, m, self._failed())

    def _unblock(self, p1, p2, data, le, apdu, challenge):
        if p1 or p2:
            raise _Bad(SW_WRONG_P1P2)
        sk, iv, m, _ = self._open(apdu, data, 0, T_UNBLOCK, challenge)
        self._state["tries"] = self.limit
        self._state["counts"]["unblock"] += 1
        self._save()
        return self._answer(sk, iv, m, SW_OK)

    def _pin_change(self, p1, p2, data, le, apdu, challenge):
        bs = self.suite.block
        if p1 not in (0x00, 0x01) or p2:
            raise _Bad(SW_WRONG_P1P2)
        if p1 == 0x00:  # RELOAD PIN: new PIN block, MAC under the reload key
            sk, iv, m, body = self._open(apdu, data, bs, T_RELOAD, challenge)
            new = self._pin_of(body, challenge)
            if new is None:
                return self._answer(sk, iv, m, SW_WRONG_DATA)
            self._state.update(pin=new, tries=self.limit)
            self._state["counts"]["reload"] += 1
            self._save()
            return self._answer(sk, iv, m, SW_OK)
        # CHANGE PIN: old and new PIN blocks, MAC under the command-MAC key
        sk, iv, m, body = self._open(apdu, data, 2 * bs, T_MAC, challenge)
        if self.tries == 0:
            return self._answer(sk, iv, m, SW_BLOCKED)
        self._spend_try()
        if not self._matches(self._pin_of(body[:bs], challenge)):
            return self._answer(sk, iv, m, self._failed())
        new = self._pin_of(body[bs:], challenge)
        self._state["tries"] = self.limit
        if new is None:
            self._save()
            return self._answer(sk, iv, m, SW_WRONG_DATA)
        self._state["pin"] = new
        self._state["counts"]["change"] += 1
        self._save()
        return self._answer(sk, iv, m, SW_OK)

    _table = {
        (0x00, 0xA4): _select,
        (0x00, 0xB0): _read_binary,
        (0x00, 0x84): _get_challenge,
        (0x00, 0x88): _internal_auth,
        (0x00, 0x20): _verify_plain,
        (0x04, 0x20): _verify_secure,
        (0x84, 0x24): _unblock,
        (0x84, 0x5E): _pin_change,
    }


def _split(apdu):
    """(data, le) of a short APDU; le None when absent, 256 for Le = 00."""
    if len(apdu) == 4:
        return b"", None
    if len(apdu) == 5:
        return b"", apdu[4] or 256
    lc = apdu[4]
    if lc == 0:
        raise _Bad(SW_WRONG_LENGTH)  # no extended lengths
    rest = len(apdu) - 5 - lc
    if rest == 0:
        return apdu[5:], None
    if rest == 1:
        return apdu[5:-1], apdu[-1] or 256
    raise _Bad(SW_WRONG_LENGTH)


def _read(f, offset, le):
    """READ BINARY of a transparent file as a T=0 card answers it."""
    if offset >= len(f):
        raise _Bad(SW_OFFSET)
    avail = len(f) - offset
    if le > avail:  # includes Le 00 (256)
        raise _Bad(0x6C00 | avail)
    return _sw(SW_OK, f[offset:offset + le])


def personalise_card(ks, path, ident, **kw):
    """Write a card's state file from the keystore (``padctl.keys.write_card``, same
    options); returns the ``VirtualCard`` that answers from it."""
    from padctl.keys import write_card
    write_card(ks, path, ident, **kw)
    return VirtualCard(path)


__all__ = ["VirtualCard", "personalise_card",  # and the card's data (padctl.cardspec):
           "CARD_KEY_TYPES", "DF01_AID", "MF_NAME", "RID", "STATE_FORMAT", "TEST_MARKER",
           "Identity", "StateError", "bcd", "card_state", "check_region", "new_card_state",
           "read_state", "unbcd", "write_state", "T_EA", "T_IA", "T_LINK", "T_MAC", "T_PIN",
           "T_RELOAD", "T_UNBLOCK"]
