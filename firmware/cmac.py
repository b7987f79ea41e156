# AES-CMAC (NIST SP 800-38B, RFC 4493) on cryptolib's AES-ECB, and the key derivation
# function of NIST SP 800-108 in counter mode with CMAC as the PRF (docs/protocol.md 9.1).
# A Cmac is keyed once; mac() reuses its preallocated buffers: the hot path (one journal
# record, one link frame) allocates only the 16-byte result, or nothing with digest_into().
import cryptolib
from micropython import const

_BLOCK = const(16)
_ECB = const(1)


def _dbl(src, dst):
    # dst = src * x in GF(2^128): shift left one bit, fold the carry back as 0x87.
    carry = 0
    for i in range(15, -1, -1):
        b = src[i]
        dst[i] = ((b << 1) & 0xFF) | carry
        carry = b >> 7
    dst[15] ^= 0x87 * carry


class Cmac:
    # AES-CMAC keyed once: Cmac(key).mac(data), or update(...) then digest().

    def __init__(self, key):
        if len(key) != 16 and len(key) != 32:  # cryptolib has no AES-192
            raise ValueError("AES key must be 16 or 32 bytes")
        self._aes = cryptolib.aes(bytes(key), _ECB)
        x = bytearray(_BLOCK)
        self._aes.encrypt(x, x)  # L = AES_K(0)
        self._k1 = bytearray(_BLOCK)
        self._k2 = bytearray(_BLOCK)
        _dbl(x, self._k1)
        _dbl(self._k1, self._k2)
        self._x = x  # running CBC state, XORed with the pending (last) block
        self.reset()

    def reset(self):
        x = self._x
        for i in range(_BLOCK):
            x[i] = 0
        self._n = 0  # bytes of the pending block already XORed into x

    def update(self, data):
        # The last block is kept pending (it is finished with K1 or K2), so a full
        # block is encrypted only when a further byte arrives.
        # Indexing (not iterating) and no bound method: nothing is allocated here.
        x = self._x
        n = self._n
        for i in range(len(data)):
            if n == _BLOCK:
                self._aes.encrypt(x, x)
                n = 0
            x[n] ^= data[i]
            n += 1
        self._n = n
        return self

    def digest_into(self, out):
        # Write the 16-byte tag into out (a bytearray or memoryview) and reset.
        x = self._x
        n = self._n
        if n == _BLOCK:
            k = self._k1
        else:
            x[n] ^= 0x80  # 10* padding: the zeros are already there
            k = self._k2
        for i in range(_BLOCK):
            x[i] ^= k[i]
        self._aes.encrypt(x, out)
        self.reset()
        return out

    def digest(self):
        return bytes(self.digest_into(bytearray(_BLOCK)))

    def mac(self, data, more=None):
        # The tag of data (|| more, if given) as 16 bytes.
        self.reset()
        self.update(data)
        if more is not None:
            self.update(more)
        return self.digest()

    def verify(self, tag, data, more=None):
        # True if tag is the MAC of data (|| more); compared in constant time.
        return ct_eq(self.mac(data, more), tag)


def ct_eq(a, b):
    # Constant-time comparison of two byte strings (their lengths are not secret).
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def kdf_fixed(key, fixed, length):
    # SP 800-108 counter mode, PRF AES-CMAC, 32-bit counter before the fixed input:
    # K(i) = CMAC(key, [i]_4 || fixed), i = 1, 2, ...; the first `length` bytes.
    if length < 1 or length > 0xFFFF:
        raise ValueError("KDF length out of range")
    prf = Cmac(key)
    out = bytearray(length)
    ctr = bytearray(4)
    blk = bytearray(_BLOCK)
    pos = 0
    i = 1
    while pos < length:
        ctr[0] = (i >> 24) & 0xFF
        ctr[1] = (i >> 16) & 0xFF
        ctr[2] = (i >> 8) & 0xFF
        ctr[3] = i & 0xFF
        prf.update(ctr)
        prf.update(fixed)
        prf.digest_into(blk)
        take = min(_BLOCK, length - pos)
        out[pos:pos + take] = blk[:take]
        pos += take
        i += 1
    return bytes(out)


def kdf(key, label, context, length):
    # SP 800-108 counter-mode KDF with the fixed input Label || 00 || Context || [L]_4
    # (L in bits, 32-bit big-endian): pyca/cryptography's KBKDFCMAC with rlen=4, llen=4,
    # location BeforeFixed.
    bits = length * 8
    fixed = (bytes(label) + b"\x00" + bytes(context)
             + bytes(((bits >> 24) & 0xFF, (bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF)))
    return kdf_fixed(key, fixed, length)
