# AES-CMAC (NIST SP 800-38B, RFC 4493) on cryptolib's AES-ECB, and the journal's record
# MAC (chain); the pad's random values (rand). Resident in both boots: the journal MACs
# every record. The key derivation is kdf.py, needed at boot only (and by the link).
import cryptolib

# The CBC state and the subkeys K1 || K2 of the MAC being computed: shared, as a MAC is
# computed in one call and never inside another (no threads, never in an interrupt).
_x = bytearray(16)
_k = bytearray(32)


def mac(aes, data, more=b"", out=None):
    # AES-CMAC of data || more under aes, a cryptolib.aes(key, 1) (ECB; keyed once, it
    # is the key: ValueError unless 16 or 32 bytes, cryptolib has no AES-192). The tag
    # is written into out (16 bytes) if given, and returned; nothing else is allocated.
    x = _x
    k = _k
    for i in range(16):
        x[i] = 0
    aes.encrypt(x, x)  # L = AES_K(0); K1 = L doubled in GF(2^128), K2 = K1 doubled
    for j in (0, 16):
        c = x[0] >> 7
        for i in range(15):
            x[i] = ((x[i] << 1) | (x[i + 1] >> 7)) & 0xFF
        x[15] = ((x[15] << 1) & 0xFF) ^ (0x87 * c)
        for i in range(16):
            k[j + i] = x[i]
    for i in range(16):
        x[i] = 0
    n = 0  # bytes XORed into x; a full x is encrypted only when a further byte comes
    d = data
    for _ in range(2):
        for i in range(len(d)):
            if n == 16:
                aes.encrypt(x, x)
                n = 0
            x[n] ^= d[i]
            n += 1
        d = more
    j = 0  # the last block: whole, XOR K1; else padded 10*, XOR K2
    if n < 16:
        x[n] ^= 0x80
        j = 16
    for i in range(16):
        x[i] ^= k[j + i]
    if out is None:
        out = bytearray(16)
    aes.encrypt(x, out)
    return out


def ct_eq(a, b):
    # Constant-time comparison of two byte strings (their lengths are not secret).
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def chain(aes):
    # The journal's mac= callable under aes (its key: kdf.Keys.journal): CMAC(K_J, body ||
    # prev). Only aes is kept, not the key derivation's code (kdf.py).
    return lambda prev, body: mac(aes, body, prev)


# The pad's random values (the INTERNAL AUTHENTICATE challenge, the PIN block's fill, the
# link's session nonces): bytes of HMAC_DRBG output (drbg.py) from a pool, each byte
# handed out once and wiped. Here, not in a module of its own (a module costs about 250
# bytes of the 64 KB heap), as cmac is resident in both boots. RAND (122 bytes: 4 GC
# blocks): the DRBG's K and V (0-63) | the pool (64-111), its last RAND[121] bytes not
# handed out yet | the PSAM's GET CHALLENGE (112-119, written at power-up by pwrup.py,
# mixed in and wiped at the next refill) | 120: 1 once instantiated | 121: the count.
# drbg.py is loaded only to refill (and drops itself); each refill reseeds from
# os.urandom. The app's idle loop refills the pool (right after a gc.collect) when it
# holds less than a card session takes at most (40 bytes: the INTERNAL AUTHENTICATE
# challenge and two PIN blocks' fill, a PIN change), so that a session never loads
# drbg.py.
RAND = bytearray(122)


def rand(b, k=0):
    """Fills b (at most 48 bytes: a bytearray or a memoryview of one) from the pool and
    returns it; refills first if fewer than len(b) + k bytes are left (k: bytes that
    must stay for a later draw of the session). rand(b"", 40): the idle refill."""
    p = RAND
    m = len(b)
    if p[121] < m + k:
        p[121] = __import__("drbg").refill(p)
    o = 112 - p[121]
    for i in range(m):
        b[i] = p[o + i]
        p[o + i] = 0
    p[121] -= m
    return b
