# The pad's one source of random values: HMAC_DRBG with SHA-256 (NIST SP 800-90A rev 1,
# 10.1.2), no prediction resistance, checked against the CAVP vectors (tests/fw/
# test_drbg.py).  Every random value the pad uses comes from fill(): the INTERNAL
# AUTHENTICATE challenge, the PIN block's fill, the link's session nonces.
#
# Seeded at the first fill() from os.urandom (entropy 32 bytes, nonce 16); reseed(extra)
# mixes in os.urandom and extra: psam.py passes the PSAM's GET CHALLENGE at every PSAM
# activation, and the app activates the PSAM at power-up.  On an ESP32 with the radio
# off os.urandom is weak: the PSAM's challenge is the second, independent source.
# HMAC is written out over hashlib.sha256 (MicroPython has no hmac module); K, V and the
# HMAC pad block are preallocated.  Lean on purpose (resident in a 64 KB heap): one
# class, module functions for the pad's instance.  RAM measured by test_drbg.py.
import os
from hashlib import sha256


class HmacDrbg:
    """HMAC_DRBG (SHA-256): HmacDrbg(entropy, nonce, pers), reseed(entropy, add),
    generate(out, add) (SP 800-90A 10.1.2.3 - 10.1.2.5)."""

    def __init__(self, entropy, nonce=b"", pers=b""):
        self._k = bytearray(32)  # Key = 00 * 32
        self._v = bytearray(b"\x01" * 32)  # V = 01 * 32
        self._p = bytearray(64)  # the HMAC pad block: K ^ ipad, then K ^ opad
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
        self.count = 1  # reseed_counter

    def generate(self, out, add=b""):
        """Fills out (a bytearray or a memoryview of one, at most 65,536 bytes); returns
        it.  Past 2^24 generates (never, on a pad) it reseeds from os.urandom first."""
        if len(out) > 65536:
            raise ValueError("DRBG request")
        if self.count > 0x1000000:
            self.reseed(os.urandom(32))
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


_d = None  # the pad's instance, made at the first fill() or reseed()


def fill(buf, extra=None):
    """Fills buf (a bytearray, or a memoryview of one) with random bytes and returns it;
    with extra, reseeds first from os.urandom and extra."""
    global _d
    if _d is None:
        _d = HmacDrbg(os.urandom(32), os.urandom(16), b"PIN-PAD")
    if extra is not None:
        _d.reseed(os.urandom(32), extra)
    return _d.generate(buf)


def reseed(extra):
    """Reseeds the pad's instance from os.urandom (32 bytes) and extra."""
    fill(memoryview(b""), extra)
