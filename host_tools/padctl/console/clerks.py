"""Clerk accounts: passwords under scrypt (memory-hard), in clerks.json beside the store.

The file is written 0600, atomically (a temporary file renamed over it). Each entry keeps
the scrypt parameters it was made with, so they can be raised later without breaking old
entries.
"""
import hashlib
import hmac
import json
import os
import re
import time
from pathlib import Path

# scrypt: N=2^15, r=8, p=1 is 32 MB and about 0.1 s a check on this kind of machine
N, R, P = 1 << 15, 8, 1
CLERK_ID = re.compile(r"[\w.-]{1,32}")  # the id padctl.window records with each check
MIN_PASSWORD = 10


class ClerkError(Exception):
    """A bad clerk id or password, or a clerks file that cannot be used."""


def default_path(db=None):
    from ..store import default_path as store_path
    return (Path(db) if db else store_path()).with_name("clerks.json")


def _kdf(password, salt, n, r, p):
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * r * n, dklen=32)


class Clerks:
    def __init__(self, path):
        self.path = Path(path)

    def _load(self):
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise ClerkError("cannot read the clerks file %s: %s" % (self.path, e)) from None
        if not isinstance(data, dict) or not isinstance(data.get("clerks"), dict):
            raise ClerkError("%s is not a clerks file" % self.path)
        return data["clerks"]

    def _save(self, clerks):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"clerks": clerks}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(str(tmp), 0o600)
        os.replace(str(tmp), str(self.path))

    def add(self, clerk, password, name="", replace=False, n=N):
        if not isinstance(clerk, str) or not CLERK_ID.fullmatch(clerk):
            raise ClerkError("clerk id: 1-32 letters, digits, . - _")
        if len(password) < MIN_PASSWORD:
            raise ClerkError("password: at least %d characters" % MIN_PASSWORD)
        clerks = self._load()
        if clerk in clerks and not replace:
            raise ClerkError("clerk %s exists (--replace to set a new password)" % clerk)
        salt = os.urandom(16)
        clerks[clerk] = {"name": name, "kdf": "scrypt", "n": n, "r": R, "p": P,
                         "salt": salt.hex(), "hash": _kdf(password, salt, n, R, P).hex(),
                         "created": time.time()}
        self._save(clerks)

    def remove(self, clerk):
        clerks = self._load()
        if clerks.pop(clerk, None) is None:
            raise ClerkError("no clerk %s" % clerk)
        self._save(clerks)

    def list(self):
        return [{"clerk": k, "name": v.get("name", ""), "created": v.get("created")}
                for k, v in sorted(self._load().items())]

    def check(self, clerk, password):
        """The clerk's entry if the password is right, else None (the same work is done
        for an unknown clerk, so the time does not tell which ids exist)."""
        e = self._load().get(clerk) if isinstance(clerk, str) else None
        if e is None:
            _kdf(password or "", b"\0" * 16, N, R, P)
            return None
        got = _kdf(password or "", bytes.fromhex(e["salt"]), e["n"], e["r"], e["p"])
        if not hmac.compare_digest(got, bytes.fromhex(e["hash"])):
            return None
        return {"clerk": clerk, "name": e.get("name", "")}
