"""Key dispersion and the software test keystore (docs/protocol.md section 2).

A ``Keystore`` is a JSON file of generated root keys per suite, purpose (key type
01-07) and version, marked ``"marker": "TEST MATERIAL - generated, not real keys"``.
From it: the level chain (province, prefecture, city), card keys, PSAM level keys,
session keys, the pad link key, and the state files of an issued card or PSAM
(``write_card``, ``write_psam``: the simulator's ``padsim.vcard`` and ``padsim.vpsam``
answer APDUs from them).
The window key service's part of UNBLOCK / RELOAD (the MAC under the unblock or
reload session key, and the check of the card's answer) is ``unblock_apdu``,
``reload_apdu`` and ``sm_answer_sw``.
"""
import os
from pathlib import Path

from .crypto import CryptoError, Suite, ct_equal, disperse, iv_from_challenge, mac
from .idnumber import DEFAULT_HOLDER_ID
from .cardspec import (CARD_KEY_TYPES, PSAM_KEY_TYPES, TEST_MARKER, Identity, StateError, T_LINK,
                       T_RELOAD, T_UNBLOCK, new_card_state, new_psam_state, read_state,
                       region_at, write_state)

KEYSTORE_FORMAT = "padctl-keystore/1"
KEY_TYPES = {
    1: "PIN encipherment",
    2: "internal authentication",
    3: "external authentication",
    4: "command MAC",
    5: "PIN unblock",
    6: "PIN reload",
    7: "pad-to-host link",
}


class KeystoreError(ValueError):
    """A keystore file that is missing or malformed, or a key it does not hold."""


class SecurityError(ValueError):
    """A secure-messaging answer whose MAC does not check out."""


# --- factors and the level chain ------------------------------------------------------

def region_factor(region, level):
    """Factor of a region level: the code at that level (lower levels zeroed) as 6 ASCII
    digits, then ``sx`` (prefecture 371700: ``33 37 31 37 30 30 73 78``)."""
    return region_at(region, level).encode("ascii") + b"sx"


def region_factors(region, from_level=0):
    """Factors of the region levels below ``from_level`` (0 = root) down to the city."""
    return [region_factor(region, lvl) for lvl in range(from_level + 1, 4)]


def chain(suite, key, factors):
    """D(...D(D(key, F1), F2)..., Fn)."""
    for f in factors:
        key = disperse(suite, key, f)
    return key


def _factor8(value, what):
    if isinstance(value, str):
        value = bytes.fromhex(value)
    if len(value) != 8:
        raise ValueError("%s must be 8 bytes, got %d" % (what, len(value)))
    return bytes(value)


# --- the keystore -----------------------------------------------------------------------

class Keystore:
    """Generated root keys: ``roots[suite label][type "01"][version "1"] = hex``."""

    def __init__(self, path, data):
        self.path = Path(path) if path is not None else None
        self.data = data

    @classmethod
    def generate(cls, path, suites=(Suite.SM4, Suite.DES3), versions=(1,), types=tuple(KEY_TYPES),
                 rand=os.urandom, overwrite=False):
        """Create a keystore of fresh random roots and write it (``path`` None: in memory)."""
        if path is not None and Path(path).exists() and not overwrite:
            raise KeystoreError("keystore %s exists; refusing to overwrite it" % path)
        roots = {}
        for s in suites:
            s = Suite.parse(s)
            per = roots.setdefault(s.label, {})
            for t in types:
                if t not in KEY_TYPES:
                    raise KeystoreError("unknown key type %r" % (t,))
                for v in versions:
                    if not 0 <= v <= 255:
                        raise KeystoreError("key version out of range: %r" % (v,))
                    per.setdefault("%02X" % t, {})["%d" % v] = bytes(rand(16)).hex().upper()
        ks = cls(path, {"marker": TEST_MARKER, "format": KEYSTORE_FORMAT, "roots": roots})
        if path is not None:
            ks.save()
        return ks

    @classmethod
    def load(cls, path):
        """A JSON test keystore; a window's sealed pad-links file (issue 8) opens with the
        passphrase in PADCTL_PASSPHRASE and answers ``pad_link_key`` only."""
        sealed = _sealed_key_file(path)
        if sealed is not None:
            return sealed
        try:
            data = read_state(path, KEYSTORE_FORMAT)
        except StateError as e:
            raise KeystoreError(str(e)) from None
        if not isinstance(data.get("roots"), dict):
            raise KeystoreError("keystore %s has no roots" % path)
        return cls(path, data)

    def save(self):
        write_state(self.path, self.data)

    def versions(self, suite, ktype):
        """Versions held for a suite and key type (sorted)."""
        per = self.data["roots"].get(Suite.parse(suite).label, {}).get("%02X" % ktype, {})
        return sorted(int(v) for v in per)

    def root(self, suite, ktype, version=1):
        suite = Suite.parse(suite)
        try:
            k = bytes.fromhex(self.data["roots"][suite.label]["%02X" % ktype]["%d" % version])
        except KeyError:
            raise KeystoreError("no %s root for key type %02X version %d"
                                % (suite.label, ktype, version)) from None
        except ValueError:
            raise KeystoreError("keystore root %s/%02X/%d is not hex"
                                % (suite.label, ktype, version)) from None
        if len(k) != 16:
            raise KeystoreError("keystore root %s/%02X/%d is not 16 bytes"
                                % (suite.label, ktype, version))
        return k

    def level_key(self, suite, ktype, version, region, level):
        """K_level of a purpose for a region (level 0 is the root, 3 the city)."""
        if level not in (0, 1, 2, 3):
            raise ValueError("level must be 0-3")
        return chain(suite, self.root(suite, ktype, version), region_factors(region)[:level])

    def card_key(self, suite, ktype, version, region, serial):
        """Kc = D(K3, serial)."""
        return disperse(suite, self.level_key(suite, ktype, version, region, 3),
                        _factor8(serial, "card serial"))

    def pad_key(self, suite, ktype, version, region, pad_id):
        """Kp = D(K3, pad id)."""
        return disperse(suite, self.level_key(suite, ktype, version, region, 3),
                        _factor8(pad_id, "pad id"))

    def pad_link_key(self, region, pad_id, version=1):
        """The pad's link key: the city link root (type 07) dispersed by the pad id.

        Always the SM4 dispersion chain (16 bytes), used as the AES-128 key of the link.
        """
        return self.pad_key(Suite.SM4, T_LINK, version, region, pad_id)

    def card_keys(self, ident):
        """The card keys {type: key} of a card identity (types 01-06)."""
        return {t: self.card_key(ident.suite, t, ident.version(t), ident.region, ident.serial)
                for t in CARD_KEY_TYPES}

    def session_key(self, ident, ktype, challenge):
        """SK = D(Kc, R) for a card identity, key type and challenge."""
        kc = self.card_key(ident.suite, ktype, ident.version(ktype), ident.region, ident.serial)
        return disperse(ident.suite, kc, _factor8(challenge, "challenge"))


def _sealed_key_file(path):
    """The pad-links view of a sealed key file at path, the Keystore view of a key service
    folder (passphrase in PADCTL_PASSPHRASE, token PIN in PADCTL_PKCS11_PIN), or None."""
    from .keysvc.errors import KeyServiceError
    from .keysvc.sealed import FORMAT
    if (Path(path) / "service.json").is_file():
        from .keysvc.compat import ServiceKeystore, passphrase_from_env
        from .keysvc.service import KeyService
        try:
            return ServiceKeystore(KeyService.open(path, passphrase_from_env(),
                                                   os.environ.get("PADCTL_PKCS11_PIN")))
        except KeyServiceError as e:
            raise KeystoreError(str(e)) from None
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if FORMAT.encode() not in head:
        return None
    from .keysvc.compat import PadLinks, passphrase_from_env
    try:
        return PadLinks.open(path, passphrase_from_env())
    except KeyServiceError as e:
        raise KeystoreError(str(e)) from None


# --- personalisation --------------------------------------------------------------------

def new_identity(suite=Suite.SM4, region="110105", serial=None, number=None, version=1, **kw):
    """A card identity with a random serial and card number unless given."""
    serial = os.urandom(8) if serial is None else _factor8(serial, "card serial")
    if number is None:
        number = "%c%08d" % ("ABCDEFGHJKLMNPQRSTUVWXYZ"[serial[0] % 24],
                             int.from_bytes(serial[1:5], "big") % 10 ** 8)
    kw.setdefault("kv_pin", version)
    kw.setdefault("kv_ia", version)
    kw.setdefault("kv_mac", version)
    kw.setdefault("kv_unblock", version)
    return Identity(region=region, serial=serial, number=number, suite=Suite.parse(suite), **kw)


def write_card(ks, path, ident, pin="123456", holder_id=DEFAULT_HOLDER_ID, limit=3,
               last_failure_sw=0x6983, clone=False, overwrite=True, auth_tries=True):
    """Write a card's state file from the keystore; returns its path.

    ``clone=True`` makes a card with the same identity but random (wrong) keys.
    ``last_failure_sw`` is 0x6983 or 0x63C0 (how the failure reaching zero is answered).
    ``auth_tries=False`` makes a legacy card without the authenticated tries-left read.
    """
    if Path(path).exists() and not overwrite:
        raise StateError("card state %s exists" % path)
    keys = ({t: os.urandom(16) for t in CARD_KEY_TYPES} if clone else ks.card_keys(ident))
    write_state(path, new_card_state(ident, keys, pin=pin, limit=limit, holder_id=holder_id,
                                     last_failure_sw=last_failure_sw, clone=clone,
                                     auth_tries=auth_tries))
    return Path(path)


def write_psam(ks, path, suite=Suite.SM4, region="110105", level=3, terminal="000000000001",
               kv_pin=1, kv_ia=1, kv_mac=1):
    """Write a PSAM's state file from the keystore; returns its path.

    It holds K_level of key types 01-04 for every version the keystore has, and reports
    ``kv_pin``, ``kv_ia``, ``kv_mac`` in its issuer info.
    """
    keys = {}
    for t in PSAM_KEY_TYPES:
        for v in ks.versions(suite, t):
            keys[(t, v)] = ks.level_key(suite, t, v, region, level)
    write_state(path, new_psam_state(suite, region, level, terminal, keys,
                                     {1: kv_pin, 2: kv_ia, 4: kv_mac}))
    return Path(path)


# --- the window key service's side of UNBLOCK and RELOAD ---------------------------------

def secured_apdu(ident, header, body, session_key, challenge):
    """``header Lc body M`` with M the command MAC (Lc counting M), protocol.md section 4."""
    if len(header) != 4:
        raise ValueError("header must be CLA INS P1 P2")
    iv = iv_from_challenge(ident.suite, challenge)
    head = bytes(header) + bytes((len(body) + 4,))
    if callable(session_key):  # the key service computes it inside (issue 8)
        return head + bytes(body) + session_key(iv, head + bytes(body))
    return head + bytes(body) + mac(ident.suite, session_key, iv, head + bytes(body))


def session_mac(ks, ident, ktype, challenge):
    """The session key of a Keystore, or for the key service the MAC function computed
    inside it: either goes to ``secured_apdu`` and ``sm_answer_sw``."""
    return _session(ks, ident, ktype, challenge)


def _session(ks, ident, ktype, challenge):
    """The session key of a Keystore, or for the key service the MAC computed inside it."""
    if hasattr(ks, "command_mac"):
        return lambda iv, data: ks.command_mac(ident, ktype, challenge, iv, data)
    return ks.session_key(ident, ktype, challenge)


def unblock_apdu(ks, ident, challenge):
    """PIN UNBLOCK ``84 24 00 00 04 M`` under the unblock session key."""
    sk = _session(ks, ident, T_UNBLOCK, challenge)
    return secured_apdu(ident, b"\x84\x24\x00\x00", b"", sk, challenge)


def reload_apdu(ks, ident, challenge, e_new):
    """RELOAD PIN ``84 5E 00 00 Lc E_new M``; E_new comes enciphered from the pad's PSAM."""
    sk = _session(ks, ident, T_RELOAD, challenge)
    return secured_apdu(ident, b"\x84\x5e\x00\x00", e_new, sk, challenge)


def sm_answer_sw(ident, session_key, challenge, command_mac, answer):
    """The status word inside a card's SM answer ``99 02 SW1 SW2 8E 04 M'``.

    Raises ``SecurityError`` if it is malformed or its MAC is not the card's.
    ``session_key`` may be the MAC function ``(iv, data) -> 4 bytes`` of the key service
    (``session_mac``), so the session key never leaves it.
    """
    answer = bytes(answer)
    if len(answer) != 10 or answer[0:2] != b"\x99\x02" or answer[4:6] != b"\x8e\x04":
        raise SecurityError("secure answer malformed: %s" % answer.hex().upper())
    iv = iv_from_challenge(ident.suite, challenge)
    if callable(session_key):
        want = session_key(iv, bytes(command_mac) + answer[:4])
    else:
        want = mac(ident.suite, session_key, iv, bytes(command_mac) + answer[:4])
    if not ct_equal(want, answer[6:10]):
        raise SecurityError("secure answer MAC does not check out")
    return (answer[2] << 8) | answer[3]


__all__ = ["Keystore", "KeystoreError", "SecurityError", "KEY_TYPES", "region_factor",
           "region_factors", "chain", "new_identity", "write_card", "write_psam",
           "secured_apdu", "unblock_apdu", "reload_apdu", "sm_answer_sw", "session_mac",
           "CryptoError"]
