# AES-CMAC (NIST SP 800-38B, RFC 4493) on cryptolib's AES-ECB, the key derivation
# function of NIST SP 800-108 in counter mode with CMAC as the PRF, and the link's key
# schedule (docs/protocol.md 9.1). Apart from link.py: the journal's record MAC
# (Keys.journal_mac) is needed from boot, the link only once the host speaks.
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


def kdf(key, fixed, length=16):
    # SP 800-108 counter mode, PRF AES-CMAC, 32-bit counter before the fixed input: the
    # first length bytes of CMAC(key, [1]_4 || fixed) || CMAC(key, [2]_4 || fixed) || ...
    if not 0 < length <= 4080:
        raise ValueError("KDF length")
    prf = cryptolib.aes(key, 1)
    m = bytearray(4) + fixed
    out = b""
    while len(out) < length:
        m[3] += 1
        out += mac(prf, m)
    return out[:length]


class Keys:
    # The keys of one pad's link key K_L (16 bytes) and pad id P (8 bytes), protocol.md
    # 9.1: key(label) = CMAC(K_L, 00000001 || label || 00 || P || 00000080), the message
    # keys with label b"PAD-LINK" d t; journal: the AES of label b"PAD-JOURNAL", for mac().

    def __init__(self, link_key, pad_id):
        if len(link_key) != 16 or len(pad_id) != 8:
            raise ValueError("link key 16 bytes, pad id 8")
        self.pad_id = bytes(pad_id)
        self._l = bytes(link_key)
        self.journal = cryptolib.aes(self.key(b"PAD-JOURNAL"), 1)

    def key(self, label):
        return kdf(self._l, label + b"\x00" + self.pad_id + b"\x00\x00\x00\x80")

    def journal_mac(self, prev, body):
        # The journal's mac= callable: CMAC(K_J, body || prev).
        return mac(self.journal, body, prev)
