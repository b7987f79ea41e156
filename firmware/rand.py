# The pad's random values (the INTERNAL AUTHENTICATE challenge, the PIN block's fill, the
# link's session nonces): bytes of HMAC_DRBG output (drbg.py) from a 64-byte pool, each
# byte handed out once and wiped from the pool. drbg.py is loaded only to refill the pool
# (at idle when it runs low, top_up(); at once if a draw finds too few) and dropped after:
# resident are this module, the DRBG's state (K, V) and the pool. Every refill reseeds
# from os.urandom; reseed(extra) also mixes in the PSAM's GET CHALLENGE (psam.py, at every
# PSAM activation; the app activates the PSAM at power-up) and discards the pool.
import sys

from micropython import const

_N = const(64)
_state = bytearray(64)  # the DRBG's K and V
_pool = bytearray(_N)  # output not yet handed out: the last _left bytes
_left = 0
_new = True  # not instantiated yet


def _refill(extra=None):
    global _left, _new
    import drbg
    try:
        drbg.refill(_state, _pool, extra, _new)
    finally:
        sys.modules.pop("drbg", None)  # its code only while refilling
    _new = False
    _left = _N


def fill(buf, keep=0):
    """Fills buf (at most 64 bytes: a bytearray or a memoryview of one) from the pool and
    returns it; refills first if the pool would be left with fewer than keep bytes (a
    draw that must not be the one to refill: the PIN block's, after PIN entry)."""
    global _left
    n = len(buf)
    if _left < n + keep:
        _refill()
    o = _N - _left
    for i in range(n):
        buf[i] = _pool[o + i]
        _pool[o + i] = 0
    _left -= n
    return buf


def top_up():
    """At idle: refills a pool that could not serve one card session (24 bytes) and a
    link nonce."""
    if _left < 32:
        _refill()


def reseed(extra):
    """Reseeds the DRBG from os.urandom and extra (the PSAM's challenge); a new pool."""
    _refill(extra)
