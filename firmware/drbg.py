# HMAC_DRBG with SHA-256 (NIST SP 800-90A rev 1, 10.1.2), no prediction resistance,
# checked against the CAVP vectors (tests/fw/test_drbg.py). The pad's random values come
# from it through cmac.rand, which keeps its K and V and a pool of its output, and loads
# this module only to refill the pool (refill()), dropping it after: its code is never
# resident. Written so that loading it interns no new string on the pad (the strings a
# module adds to the qstr pool stay for good, and cost the 64 KB heap): functions over a
# state buffer, no class, no message strings, names the firmware has already
# (init, update, fill, mac; arguments k, o, a, b, c, p, out):
#   init(k, entropy, nonce, pers)   instantiate (10.1.2.3)
#   update(k, a, b)                 HMAC_DRBG_Update with a || b; reseed (10.1.2.4) is
#                                   update(k, entropy, additional input)
#   fill(k, out, add)               generate (10.1.2.5); cmac.rand reseeds at each refill,
#                                   so the reseed counter never passes 1 (none is kept)
# k: a bytearray of 128 bytes: K (0-31) | V (32-63) | the HMAC pad block (64-127).
# HMAC is written out over hashlib.sha256 (MicroPython has no hmac module).
import os
import sys
from hashlib import sha256


def mac(k, o, a, b=b"", c=b""):
    # k[o:o + 32] = HMAC-SHA256(K, V || a || b || c) (RFC 2104 with a 32-byte key)
    m = memoryview(k)
    for i in range(64):
        k[64 + i] = (k[i] if i < 32 else 0) ^ 0x36
    h = sha256(m[64:])
    h.update(m[32:64])
    h.update(a)
    h.update(b)
    h.update(c)
    a = h.digest()
    for i in range(64):
        k[64 + i] ^= 0x6A  # ipad to opad (36 ^ 5C)
    h = sha256(m[64:])
    h.update(a)
    m[o:o + 32] = h.digest()


def update(k, a=b"", b=b""):
    # HMAC_DRBG_Update with provided_data = a || b
    mac(k, 0, b"\x00", a, b)  # K = HMAC(K, V || 00 || data)
    mac(k, 32, b"")  # V = HMAC(K, V)
    if a or b:
        mac(k, 0, b"\x01", a, b)
        mac(k, 32, b"")


def init(k, a, b=b"", c=b""):
    # instantiate: entropy a, nonce b, personalization string c
    for i in range(32):
        k[i] = 0  # Key = 00 * 32
        k[32 + i] = 1  # V = 01 * 32
    update(k, a + b, c)


def fill(k, out, a=b""):
    """Generate: fills out (a bytearray or a memoryview of one, at most 65,536 bytes),
    additional input a."""
    if len(out) > 65536:
        raise ValueError
    if a:
        update(k, a)
    for i in range(0, len(out), 32):
        mac(k, 32, b"")
        n = min(32, len(out) - i)
        out[i:i + n] = k[32:32 + n]
    update(k, a)
    return out


def refill(p):
    """cmac.rand's: p is its RAND (K V | pool | the PSAM's challenge | instantiated | the
    count, which the caller sets from the size returned). Drops
    this module from sys.modules first (its code only while refilling), instantiates
    from os.urandom (the first time) or resumes from K and V, reseeds from os.urandom
    and the PSAM's challenge (then wiped), fills the pool; returns its size."""
    sys.modules.pop("drbg", None)
    k = bytearray(128)
    if p[120]:
        k[:64] = p[:64]
    else:
        init(k, os.urandom(32), os.urandom(16), b"PIN-PAD")
    update(k, os.urandom(32), p[112:120])  # reseed
    p[120] = 1
    fill(k, memoryview(p)[64:112])
    p[:64] = k[:64]
    for i in range(128):
        k[i] = 0
        if i < 8:
            p[112 + i] = 0
    return 48
