"""The append-only, hash-chained audit log of every key operation (protocol.md section 12).

One JSON line per operation: seq, time, who, op, key id, suite, key type, version,
region, detail, the previous line's hash and this line's hash (SHA-256 over the
previous hash and the canonical JSON of the line without its hash). Never a key value:
``append`` refuses a field that holds bytes. ``verify`` recomputes the chain and names
the first line that does not check out (a modified, removed or reordered line).
"""
import getpass
import hashlib
import json
import os
import time
from pathlib import Path

from .errors import AuditError

GENESIS = "0" * 64
FIELDS = ("op", "key", "suite", "type", "version", "region", "detail")


def _hash(prev, entry):
    body = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(prev.encode("ascii") + body).hexdigest()


def operator():
    return os.environ.get("PADCTL_OPERATOR") or getpass.getuser()


class AuditLog:
    def __init__(self, path, who=None):
        self.path = Path(path)
        self.who = who or operator()

    def _last(self):
        if not self.path.exists():
            return 0, GENESIS
        last = None
        with open(self.path, "rb") as f:
            for line in f:
                if line.strip():
                    last = line
        if last is None:
            return 0, GENESIS
        try:
            e = json.loads(last)
            return int(e["seq"]), e["hash"]
        except (ValueError, KeyError, TypeError):
            raise AuditError("audit log %s: its last line is malformed" % self.path) from None

    def append(self, op, **fields):
        for k, v in fields.items():
            if k not in FIELDS:
                raise ValueError("audit field %r unknown" % k)
            if isinstance(v, (bytes, bytearray)):
                raise ValueError("audit field %s holds bytes: key values are never logged" % k)
        seq, prev = self._last()
        entry = {"seq": seq + 1, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "who": self.who, "op": op}
        entry.update({k: v for k, v in fields.items() if v is not None})
        entry["prev"] = prev
        entry["hash"] = _hash(prev, entry)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, json.dumps(entry, sort_keys=True).encode("utf-8") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return entry

    def entries(self):
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise AuditError("audit log %s line %d is not JSON" % (self.path, n)) \
                        from None
        return out

    def verify(self):
        """The entries if the chain holds; AuditError naming the first bad line otherwise."""
        prev, seq = GENESIS, 0
        entries = self.entries()
        for n, e in enumerate(entries, 1):
            try:
                h = e.pop("hash")
                ok = e.get("prev") == prev and e.get("seq") == seq + 1 and _hash(prev, e) == h
                e["hash"] = h
            except (KeyError, TypeError, AttributeError):
                ok = False
            if not ok:
                raise AuditError("audit log %s: line %d breaks the hash chain (modified, "
                                 "removed or reordered)" % (self.path, n))
            prev, seq = h, seq + 1
        return entries
