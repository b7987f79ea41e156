"""The sealed software keystore: keys at rest under AES-256-GCM (protocol.md section 12).

The file is JSON: a header (format, the scrypt parameters and salt, the content key
sealed under the passphrase key and, once master key cards exist, under the master key)
and the key table sealed under the content key, the header being its associated data.
File mode 0600, written atomically. A wrong passphrase, a modified file (any byte) or a
file that is not one is a ``SealedError`` with one clear line.
"""
import base64
import json
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import SealedError

FORMAT = "padctl-sealed/1"
SCRYPT_N = 1 << 15  # about 32 MB and 0.1 s per opening
_DK_AAD = b"padctl-sealed/1 content key"


def _b64(b):
    return base64.b64encode(b).decode("ascii")


def _unb64(s):
    return base64.b64decode(s.encode("ascii"), validate=True)


def passphrase_key(passphrase, kdf):
    if not passphrase:
        raise SealedError("a passphrase is needed to open the sealed keystore")
    if kdf.get("name") != "scrypt":
        raise SealedError("unknown key derivation %r" % kdf.get("name"))
    return Scrypt(salt=bytes.fromhex(kdf["salt"]), length=32, n=int(kdf["n"]), r=int(kdf["r"]),
                  p=int(kdf["p"])).derive(passphrase.encode("utf-8"))


def write_private(path, data):
    """Write bytes to path atomically with mode 0600 (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(".%s.tmp%d" % (path.name, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class SealedStore:
    """An opened sealed keystore: ``keys`` maps a key id to {"kind", "value" (bytes), meta}."""

    def __init__(self, path, header, dk, keys):
        self.path = Path(path)
        self.header = header
        self._dk = dk
        self.keys = keys

    # --- create, open, save ---------------------------------------------------------
    @classmethod
    def create(cls, path, passphrase, n=SCRYPT_N, overwrite=False):
        path = Path(path)
        if path.exists() and not overwrite:
            raise SealedError("sealed keystore %s exists; refusing to overwrite it" % path)
        kdf = {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": os.urandom(16).hex()}
        dk = os.urandom(32)
        st = cls(path, {"format": FORMAT, "kdf": kdf, "wraps": {}}, dk, {})
        st._seal_dk("passphrase", passphrase_key(passphrase, kdf))
        st.save()
        return st

    @classmethod
    def read_header(cls, path):
        path = Path(path)
        try:
            mode = path.stat().st_mode
            raw = path.read_bytes()
        except FileNotFoundError:
            raise SealedError("no sealed keystore at %s" % path) from None
        except OSError as e:
            raise SealedError("cannot read %s: %s" % (path, e.strerror)) from None
        if stat.S_IMODE(mode) & 0o077:
            raise SealedError("sealed keystore %s has mode %04o: it must be 0600 "
                              "(chmod 600 %s)" % (path, stat.S_IMODE(mode), path))
        try:
            header = json.loads(raw.decode("utf-8"))
            if header.get("format") != FORMAT:
                raise ValueError
            header["kdf"]["salt"], header["nonce"], header["ct"]
            header["wraps"]["passphrase"]
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise SealedError("%s is not a padctl sealed keystore (or it was modified)"
                              % path) from None
        return header

    @classmethod
    def open(cls, path, passphrase=None, master_key=None):
        """Open with the passphrase, or with the master key the master key cards restore."""
        header = cls.read_header(path)
        try:
            if master_key is not None:
                w = header["wraps"].get("master")
                if w is None:
                    raise SealedError("%s has no master-key seal" % path)
                dk = AESGCM(master_key).decrypt(_unb64(w["nonce"]), _unb64(w["ct"]), _DK_AAD)
            else:
                w = header["wraps"]["passphrase"]
                dk = AESGCM(passphrase_key(passphrase, header["kdf"])).decrypt(
                    _unb64(w["nonce"]), _unb64(w["ct"]), _DK_AAD)
        except InvalidTag:
            raise SealedError("cannot open sealed keystore %s: wrong %s, or the file was "
                              "modified" % (path, "master key" if master_key is not None
                                            else "passphrase")) from None
        except (ValueError, KeyError, TypeError) as e:
            raise SealedError("sealed keystore %s is malformed: %s" % (path, e)) from None
        try:
            body = AESGCM(dk).decrypt(_unb64(header["nonce"]), _unb64(header["ct"]),
                                      cls._aad(header))
            table = json.loads(body.decode("utf-8"))
            keys = {k: dict(v, value=bytes.fromhex(v["value"])) for k, v in table.items()}
        except InvalidTag:
            raise SealedError("sealed keystore %s was modified (its seal does not verify)"
                              % path) from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise SealedError("sealed keystore %s is malformed: %s" % (path, e)) from None
        return cls(path, header, dk, keys)

    @staticmethod
    def _aad(header):
        h = {k: header[k] for k in ("format", "kdf", "wraps")}
        return json.dumps(h, sort_keys=True, separators=(",", ":")).encode()

    def _seal_dk(self, name, kek):
        nonce = os.urandom(12)
        self.header["wraps"][name] = {"nonce": _b64(nonce),
                                      "ct": _b64(AESGCM(kek).encrypt(nonce, self._dk, _DK_AAD))}

    def set_passphrase(self, passphrase):
        self.header["kdf"]["salt"] = os.urandom(16).hex()
        self._seal_dk("passphrase", passphrase_key(passphrase, self.header["kdf"]))
        self.save()

    def set_master_key(self, master_key):
        self._seal_dk("master", master_key)
        self.save()

    def save(self):
        table = {k: dict(v, value=v["value"].hex()) for k, v in self.keys.items()}
        nonce = os.urandom(12)
        self.header["nonce"] = _b64(nonce)
        self.header["ct"] = _b64(AESGCM(self._dk).encrypt(
            nonce, json.dumps(table, sort_keys=True).encode(), self._aad(self.header)))
        write_private(self.path, json.dumps(self.header, indent=1).encode() + b"\n")
