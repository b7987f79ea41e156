"""The virtual social-security card: an APDU processor (docs/protocol.md sections 1 and 4).

``VirtualCard(path).process(apdu) -> response`` takes one command APDU (bytes, case
1-4; a trailing Le is optional on case-4 commands) and returns the response data
followed by SW1 SW2. The T=0 transport (``padctl.slot``) turns that into procedure
bytes, ``61xx`` and GET RESPONSE; GET RESPONSE never reaches the processor, so it does
not spend a challenge. ``reset()`` is the cold reset of a new activation.

The card's persistent state (PIN, retry counter, keys, identity, options) lives in a
JSON file, rewritten durably (temp file, fsync, rename, fsync of the directory) before
``process`` returns, so a test can kill the pad or the world and re-open the same card.
Create the file with ``padctl.keys.personalise_card``; read it in tests with
``card_state(path)``. Every file is TEST MATERIAL: the keys in it are generated.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .crypto import (PinBlockError, Suite, ct_equal, decrypt, disperse, encrypt, invert,
                     iv_from_challenge, mac, parse_pin_block)
from .idnumber import DEFAULT_HOLDER_ID

TEST_MARKER = "TEST MATERIAL - generated, not real keys"
STATE_FORMAT = "padctl-vcard/1"

MF_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # sx1.sh.社会保障 (GBK)
DF01_AID = bytes.fromhex("D15600000590")
RID = bytes.fromhex("D156000005")

# key types (protocol.md section 2)
T_PIN, T_IA, T_EA, T_MAC, T_UNBLOCK, T_RELOAD, T_LINK = 1, 2, 3, 4, 5, 6, 7
CARD_KEY_TYPES = (T_PIN, T_IA, T_EA, T_MAC, T_UNBLOCK, T_RELOAD)

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_PIN_IN_CLEAR = 0x6982
SW_BLOCKED = 0x6983
SW_NO_CHALLENGE = 0x6984
SW_CONDITIONS = 0x6985
SW_NO_EF = 0x6986
SW_BAD_MAC = 0x6988
SW_WRONG_DATA = 0x6A80
SW_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_OFFSET = 0x6B00
SW_UNKNOWN_INS = 0x6D00
SW_UNKNOWN_CLA = 0x6E00


class StateError(ValueError):
    """A state file that is missing, not ours or malformed."""


# --- identity (EF05) ----------------------------------------------------------------

def bcd(digits, size=None):
    """Decimal digit string -> packed BCD bytes (``"110105"`` -> ``11 01 05``)."""
    if not isinstance(digits, str) or not digits.isascii() or not digits.isdigit() or len(digits) % 2:
        raise ValueError("BCD needs an even number of decimal digits, got %r" % (digits,))
    out = bytes.fromhex(digits)
    if size is not None and len(out) != size:
        raise ValueError("BCD field must be %d bytes, got %d" % (size, len(out)))
    return out


def unbcd(data):
    s = bytes(data).hex().upper()
    if not s.isdigit():
        raise ValueError("not BCD: %s" % s)
    return s


def check_region(region):
    """A GB/T 2260 code as 6 digits (str, or 3 BCD bytes); returns the str."""
    if isinstance(region, (bytes, bytearray)):
        region = unbcd(region)
    bcd(region, 3)
    if region[:2] == "00":
        raise ValueError("region %s has no province" % region)
    return region


@dataclass(frozen=True)
class Identity:
    """The card's identification data, EF05 (38 bytes)."""

    region: str          # 6 digits, GB/T 2260
    serial: bytes        # 8 bytes: card id bytes 8-15, the card's dispersion factor
    number: str          # card number, 9 ASCII characters
    suite: Suite
    kv_pin: int = 1
    kv_ia: int = 1
    kv_mac: int = 1
    kv_unblock: int = 1  # PIN unblock and reload share it
    issue: str = "20240101"
    expiry: str = "20340101"

    def __post_init__(self):
        check_region(self.region)
        if len(self.serial) != 8:
            raise ValueError("card serial must be 8 bytes")
        if len(self.number) != 9 or not self.number.isascii():
            raise ValueError("card number must be 9 ASCII characters")
        for v in (self.kv_pin, self.kv_ia, self.kv_mac, self.kv_unblock):
            if not 0 <= v <= 255:
                raise ValueError("key version out of range: %r" % v)
        bcd(self.issue, 4)
        bcd(self.expiry, 4)
        object.__setattr__(self, "suite", Suite.parse(self.suite))
        object.__setattr__(self, "serial", bytes(self.serial))

    @property
    def card_id(self):
        """16 bytes: region (3 BCD), RID D156000005, serial (8)."""
        return bcd(self.region) + RID + self.serial

    def version(self, ktype):
        """Key version of a purpose (03 external auth follows 02; 05 and 06 share)."""
        return {T_PIN: self.kv_pin, T_IA: self.kv_ia, T_EA: self.kv_ia, T_MAC: self.kv_mac,
                T_UNBLOCK: self.kv_unblock, T_RELOAD: self.kv_unblock}[ktype]

    def ef05(self):
        return (self.card_id + self.number.encode("ascii")
                + bytes((int(self.suite), self.kv_pin, self.kv_ia, self.kv_mac, self.kv_unblock))
                + bcd(self.issue) + bcd(self.expiry))

    @classmethod
    def from_ef05(cls, raw):
        raw = bytes(raw)
        if len(raw) != 38:
            raise ValueError("EF05 must be 38 bytes, got %d" % len(raw))
        if raw[3:8] != RID:
            raise ValueError("EF05: issuer RID is %s, not D156000005" % raw[3:8].hex().upper())
        return cls(region=unbcd(raw[0:3]), serial=raw[8:16], number=raw[16:25].decode("ascii"),
                   suite=raw[25], kv_pin=raw[26], kv_ia=raw[27], kv_mac=raw[28],
                   kv_unblock=raw[29], issue=unbcd(raw[30:34]), expiry=unbcd(raw[34:38]))

    def to_json(self):
        return {"region": self.region, "serial": self.serial.hex().upper(), "number": self.number,
                "suite": int(self.suite), "kv_pin": self.kv_pin, "kv_ia": self.kv_ia,
                "kv_mac": self.kv_mac, "kv_unblock": self.kv_unblock,
                "issue": self.issue, "expiry": self.expiry}

    @classmethod
    def from_json(cls, d):
        d = dict(d)
        d["serial"] = bytes.fromhex(d["serial"])
        return cls(**d)


# --- durable JSON state ----------------------------------------------------------------

def write_state(path, obj):
    """Write ``obj`` as JSON durably: temp file, fsync, rename, fsync the directory."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps(obj, indent=1, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_state(path, fmt):
    try:
        with open(path, "rb") as f:
            d = json.loads(f.read().decode())
    except FileNotFoundError:
        raise StateError("state file %s does not exist" % path) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise StateError("state file %s is not valid JSON: %s" % (path, e)) from None
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise StateError("state file %s is not a %s file" % (path, fmt))
    if d.get("marker") != TEST_MARKER:
        raise StateError("state file %s lacks the test-material marker" % path)
    return d


def card_state(path):
    """The card's state file as a dict (for tests): ``tries``, ``limit``, ``pin``, ..."""
    return read_state(path, STATE_FORMAT)


def new_card_state(ident, keys, pin="123456", limit=3, last_failure_sw=SW_BLOCKED,
                   holder_id=DEFAULT_HOLDER_ID, clone=False, auth_tries=True):
    """A fresh state dict; ``keys`` maps key type (int) to the 16-byte card key.
    ``auth_tries=False`` makes a legacy card: no authenticated tries-left read (the
    no-data VERIFY under secure messaging answers ``6700``, protocol.md section 4)."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("PIN must be 4-12 digits")
    if not 1 <= limit <= 15:
        raise ValueError("retry limit must be 1-15")
    if last_failure_sw not in (SW_BLOCKED, 0x63C0):
        raise ValueError("last failure SW must be 6983 or 63C0")
    if len(holder_id) != 18 or not holder_id.isascii():
        raise ValueError("holder ID number must be 18 ASCII characters")
    missing = [t for t in CARD_KEY_TYPES if t not in keys]
    if missing:
        raise ValueError("card keys missing for types %s" % missing)
    return {"marker": TEST_MARKER, "format": STATE_FORMAT, "identity": ident.to_json(),
            "holder_id": holder_id,
            "keys": {"%02X" % t: bytes(keys[t]).hex().upper() for t in CARD_KEY_TYPES},
            "pin": pin, "limit": limit, "tries": limit,
            "last_failure_sw": "%04X" % last_failure_sw, "clone": bool(clone),
            "auth_tries": bool(auth_tries),
            "counts": {"verify_ok": 0, "verify_fail": 0, "unblock": 0, "reload": 0, "change": 0}}


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

    def __init__(self, path):
        self.path = Path(path)
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
        elif data == DF01_AID:
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
