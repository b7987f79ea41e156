# The pad's random values (the INTERNAL AUTHENTICATE challenge, the PIN block's fill, the
# link's session nonces): bytes of HMAC_DRBG output (drbg.py) from a pool, each byte
# handed out once and wiped. Resident: this one function and P, nothing else.
# P: the DRBG's K and V (0-63) | the pool (64-127), its last n bytes not handed out yet |
# the PSAM's GET CHALLENGE (128-135, written by psam.py, mixed in and wiped at the next
# refill) | 136: 1 once instantiated. drbg.py is loaded only to refill (and drops itself);
# each refill reseeds from os.urandom. The first refill is made when this module loads
# (with the app: drbg's names are interned low in a whole heap); the app's idle loop
# refills the pool to full between cards, right after a gc.collect, so that a card
# session (24 bytes) never needs a refill.
P = bytearray(137)
n = 0


def fill(b, k=0):
    """Fills b (at most 64 bytes: a bytearray or a memoryview of one) from the pool and
    returns it; refills first if fewer than len(b) + k bytes are left (k: bytes that
    must stay for a later draw of the session). fill(b"", 64): the idle refill."""
    global n
    m = len(b)
    if n < m + k:
        import drbg
        n = drbg.refill(P)
    o = 128 - n
    for i in range(m):
        b[i] = P[o + i]
        P[o + i] = 0
    n -= m
    return b


import gc  # noqa: E402

gc.collect()
fill(b"", 64)  # between two collections: it leaves no holes mid-heap
gc.collect()
