"""The card and the PSAM as `padctl issue` makes them (docs/protocol.md sections 1, 2, 5).

Key types, status words, the card's identity (EF05), and the state files of the issued
devices: a card's and a PSAM's durable JSON (``write_state`` / ``read_state``), created
by ``padctl.keys.write_card`` / ``write_psam``. The devices that answer APDUs from these
files are the simulator's (``padsim.vcard.VirtualCard``, ``padsim.vpsam.VirtualPsam``).
Every file is TEST MATERIAL: the keys in it are generated.
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .crypto import Suite
from .idnumber import DEFAULT_HOLDER_ID

TEST_MARKER = "TEST MATERIAL - generated, not real keys"
STATE_FORMAT = "padctl-vcard/1"   # a card's state file
PSAM_STATE_FORMAT = "padctl-vpsam/1"

MF_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # sx1.sh.社会保障 (GBK)
DF01_AID = bytes.fromhex("D15600000590")
RID = bytes.fromhex("D156000005")

# key types (protocol.md section 2)
T_PIN, T_IA, T_EA, T_MAC, T_UNBLOCK, T_RELOAD, T_LINK = 1, 2, 3, 4, 5, 6, 7
CARD_KEY_TYPES = (T_PIN, T_IA, T_EA, T_MAC, T_UNBLOCK, T_RELOAD)
PSAM_KEY_TYPES = (T_PIN, T_IA, T_EA, T_MAC)  # a PSAM never holds 05, 06, 07

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
    """The card's state file as a dict: ``tries``, ``limit``, ``pin``, ..."""
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


# --- the PSAM's state ---------------------------------------------------------------------

def psam_state(path):
    """The PSAM's state file as a dict."""
    return read_state(path, PSAM_STATE_FORMAT)


def psam_region(path):
    """The region a PSAM's state file serves (at its level); StateError if malformed."""
    d = psam_state(path)
    try:
        return region_at(d["region"], int(d["level"]))
    except (KeyError, TypeError, ValueError) as e:
        raise StateError("PSAM state %s malformed: %s" % (path, e)) from None


def region_at(region, level):
    """The region code at a level, lower levels zeroed: ("110105", 1) -> "110000"."""
    region = check_region(region)
    if level not in (1, 2, 3):
        raise ValueError("level must be 1, 2 or 3")
    return region[:2 * level] + "0" * (6 - 2 * level)


def new_psam_state(suite, region, level, terminal, keys, versions):
    """A fresh state dict.

    ``keys`` maps (key type, version) -> 16-byte level key; ``versions`` maps the key
    types 01, 02, 04 to the versions reported in the issuer info.
    """
    suite = Suite.parse(suite)
    region = region_at(region, level)
    if len(bcd(terminal)) != 6:
        raise ValueError("terminal number must be 12 digits")
    held = {}
    for (t, v), k in keys.items():
        if t not in PSAM_KEY_TYPES:
            raise ValueError("a pad PSAM never holds key type %02X" % t)
        if len(k) != 16:
            raise ValueError("PSAM keys are 16 bytes")
        held.setdefault("%02X" % t, {})["%d" % v] = bytes(k).hex().upper()
    for t in (T_PIN, T_IA, T_MAC):
        if "%d" % versions[t] not in held.get("%02X" % t, {}):
            raise ValueError("issuer info names key type %02X version %d, not held"
                             % (t, versions[t]))
    return {"marker": TEST_MARKER, "format": PSAM_STATE_FORMAT, "suite": int(suite),
            "region": region, "level": level, "terminal": terminal, "keys": held,
            "versions": {"%02X" % t: versions[t] for t in (T_PIN, T_IA, T_MAC)}}
