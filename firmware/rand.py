# The pad's random values (the INTERNAL AUTHENTICATE challenge, the PIN block's fill, the
# link's session nonces): bytes of HMAC_DRBG output (drbg.py) from a 64-byte pool, each
# byte handed out once and wiped from the pool. drbg.py is loaded only to refill the pool
# and dropped after: resident are this module, the DRBG's state (K, V) and the pool.
# Refills happen at idle (top_up(), from the app's idle loop, the heap just collected),
# or at once when a draw finds too few bytes; each one reseeds from os.urandom. The
# PSAM's GET CHALLENGE (psam.py, at every PSAM activation; the app activates the PSAM at
# power-up) is kept by reseed() and mixed in at the next refill, which top_up() then
# makes whatever the pool holds: a PSAM activation is a moment of little free heap.
import sys

from micropython import const

_N = const(64)
_state = bytearray(64)  # the DRBG's K and V
_pool = bytearray(_N)  # output not yet handed out: the last _left bytes
_extra = bytearray(8)  # the PSAM's challenge waiting for the next refill
_left = 0
_new = True  # not instantiated yet
_due = False  # a challenge is waiting


def _refill():
    global _left, _new, _due
    import drbg
    try:
        drbg.refill(_state, _pool, _extra if _due else None, _new)
    finally:
        sys.modules.pop("drbg", None)  # its code only while refilling
    _new = _due = False
    for i in range(8):
        _extra[i] = 0
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
    link nonce, or that a PSAM challenge is waiting for. A heap without room for it
    leaves things as they are (a draw that needs a refill will try again)."""
    if _left < 32 or _due:
        try:
            _refill()
        except MemoryError:
            pass


def reseed(extra):
    """The PSAM's 8-byte challenge: mixed into the DRBG, with os.urandom, at the next
    refill (the next top_up, or a draw that needs one)."""
    global _due
    _extra[:] = extra
    _due = True
