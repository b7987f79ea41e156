# HMAC_DRBG with SHA-256 (NIST SP 800-90A rev 1, 10.1.2), no prediction resistance,
# checked against the CAVP vectors (tests/fw/test_drbg.py). The pad's random values come
# from it through rand.py, which keeps its state (K, V) and a pool of its output, and
# loads this module only to refill the pool (refill()), dropping it after: its code is
# never resident. HMAC is written out over hashlib.sha256 (MicroPython has no hmac
# module); K, V and the HMAC pad block are preallocated.
import os
import sys
from hashlib import sha256


class HmacDrbg:
    """HMAC_DRBG (SHA-256): HmacDrbg(entropy, nonce, pers), reseed(entropy, add),
    generate(out, add) (SP 800-90A 10.1.2.3 - 10.1.2.5). state: a 64-byte bytearray
    holding K and V (kept by the caller between loads); entropy None: resume from it."""

    def __init__(self, entropy, nonce=b"", pers=b"", state=None):
        st = memoryview(bytearray(64) if state is None else state)
        self._k = k = st[:32]
        self._v = v = st[32:64]
        self._p = bytearray(64)  # the HMAC pad block: K ^ ipad, then K ^ opad
        self.count = 1  # reseed_counter (of this load: rand.py reseeds at each refill)
        if entropy is not None:
            for i in range(32):
                k[i] = 0  # Key = 00 * 32
                v[i] = 1  # V = 01 * 32
            self.reseed(entropy + nonce, pers)

    def _mac(self, out, *parts):
        # out = HMAC-SHA256(K, parts joined) (RFC 2104 with a 32-byte key)
        p, k = self._p, self._k
        for i in range(64):
            p[i] = (k[i] if i < 32 else 0) ^ 0x36
        h = sha256(p)
        for x in parts:
            h.update(x)
        x = h.digest()
        for i in range(64):
            p[i] ^= 0x6A  # ipad to opad (36 ^ 5C)
        h = sha256(p)
        h.update(x)
        out[:] = h.digest()

    def _update(self, a, b=b""):
        # HMAC_DRBG_Update with provided_data = a || b
        k, v = self._k, self._v
        self._mac(k, v, b"\x00", a, b)
        self._mac(v, v)
        if a or b:
            self._mac(k, v, b"\x01", a, b)
            self._mac(v, v)

    def reseed(self, entropy, add=b""):
        self._update(entropy, add)
        self.count = 1

    def generate(self, out, add=b""):
        """Fills out (a bytearray or a memoryview of one, at most 65,536 bytes)."""
        if len(out) > 65536 or self.count > 0x1000000:
            raise ValueError("DRBG request")
        if add:
            self._update(add)
        v = self._v
        for i in range(0, len(out), 32):
            self._mac(v, v)
            m = min(32, len(out) - i)
            out[i:i + m] = v[:m]
        self._update(add)
        self.count += 1
        return out


def refill(p):
    """rand.py's: p is its P (K V | pool | the PSAM's challenge | instantiated). Drops
    this module from sys.modules first (its code only while refilling), instantiates
    from os.urandom (the first time) or resumes from K and V, reseeds from os.urandom
    and the PSAM's challenge (then wiped), fills the pool; returns its size."""
    sys.modules.pop("drbg", None)
    m = memoryview(p)
    d = HmacDrbg(None if p[136] else os.urandom(32), os.urandom(16), b"PIN-PAD", m[:64])
    d.reseed(os.urandom(32), m[128:136])
    p[136] = 1
    m[128:136] = bytes(8)
    d.generate(m[64:128])
    return 64
