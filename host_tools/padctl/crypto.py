"""Host-side cryptography for both algorithm suites (docs/protocol.md sections 2 and 3).

Block functions (SM4, 3DES, single DES, AES; ECB), key dispersion ``disperse``, the
command MAC ``mac`` (SM4 CBC-MAC or ISO 9797-1 MAC algorithm 3, padding method 2,
IV from the challenge), AES-CMAC, PIN blocks with random fill, and a constant-time
compare. Everything takes and returns ``bytes``; bad input raises ``CryptoError``
(``PinBlockError`` for PIN blocks) with a message fit for a user.
"""
import hmac
import os
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

try:  # cryptography >= 43 keeps 3DES in the "decrepit" package
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    TripleDES = algorithms.TripleDES


class CryptoError(ValueError):
    """A key, block or length that the algorithm cannot take."""


class PinBlockError(CryptoError):
    """A PIN that cannot be encoded, or a plaintext PIN block that is malformed."""


class Suite(IntEnum):
    """Algorithm suite as coded in EF05 byte 25 and the PSAM issuer info."""

    SM4 = 1
    DES3 = 2

    @property
    def block(self):
        """Block size in bytes: 16 for SM4, 8 for 3DES."""
        return 16 if self is Suite.SM4 else 8

    @property
    def label(self):
        return "SM4" if self is Suite.SM4 else "3DES"

    @classmethod
    def parse(cls, value):
        """Suite from a Suite, its code (1, 2) or its name ("sm4", "3des")."""
        if isinstance(value, str):
            v = value.strip().lower()
            if v in ("sm4", "1"):
                return cls.SM4
            if v in ("3des", "des3", "tdes", "2"):
                return cls.DES3
            raise CryptoError("unknown algorithm suite %r" % value)
        try:
            return cls(value)
        except ValueError:
            raise CryptoError("unknown algorithm suite %r" % (value,)) from None


# --- block functions ------------------------------------------------------------------

def _ecb(alg, data, encrypt):
    c = Cipher(alg, modes.ECB())
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(bytes(data)) + op.finalize()


def _check(key, sizes, data, block, what):
    if len(key) not in sizes:
        raise CryptoError("%s key must be %s bytes, got %d"
                          % (what, " or ".join(map(str, sizes)), len(key)))
    if len(data) % block:
        raise CryptoError("%s data must be a multiple of %d bytes, got %d"
                          % (what, block, len(data)))


def sm4_encrypt(key, data):
    _check(key, (16,), data, 16, "SM4")
    return _ecb(algorithms.SM4(bytes(key)), data, True)


def sm4_decrypt(key, data):
    _check(key, (16,), data, 16, "SM4")
    return _ecb(algorithms.SM4(bytes(key)), data, False)


def des3_encrypt(key, data):
    """3DES EDE, ECB; a 16-byte key is EDE2 (K1 K2 K1)."""
    _check(key, (16, 24), data, 8, "3DES")
    return _ecb(TripleDES(_des3_key(key)), data, True)


def des3_decrypt(key, data):
    _check(key, (16, 24), data, 8, "3DES")
    return _ecb(TripleDES(_des3_key(key)), data, False)


def _des3_key(key):
    key = bytes(key)
    return key + key[:8] if len(key) == 16 else key


def des_encrypt(key, data):
    """Single DES, ECB (an 8-byte key, as the three equal keys of 3DES)."""
    _check(key, (8,), data, 8, "DES")
    return _ecb(TripleDES(bytes(key) * 3), data, True)


def des_decrypt(key, data):
    _check(key, (8,), data, 8, "DES")
    return _ecb(TripleDES(bytes(key) * 3), data, False)


def aes_encrypt(key, data):
    _check(key, (16, 24, 32), data, 16, "AES")
    return _ecb(algorithms.AES(bytes(key)), data, True)


def aes_decrypt(key, data):
    _check(key, (16, 24, 32), data, 16, "AES")
    return _ecb(algorithms.AES(bytes(key)), data, False)


def encrypt(suite, key, data):
    """ECB encryption with the suite's cipher (SM4, or 3DES EDE2)."""
    if Suite.parse(suite) is Suite.SM4:
        return sm4_encrypt(key, data)
    return des3_encrypt(key, data)


def decrypt(suite, key, data):
    if Suite.parse(suite) is Suite.SM4:
        return sm4_decrypt(key, data)
    return des3_decrypt(key, data)


# --- dispersion, IV, MAC --------------------------------------------------------------

def invert(data):
    """~X: every bit flipped."""
    return bytes(b ^ 0xFF for b in data)


def disperse(suite, key, factor):
    """D(K, F) of protocol.md section 2: SM4 ``SM4_K(F || ~F)``; 3DES ``3DES_K(F) || 3DES_K(~F)``."""
    if len(factor) != 8:
        raise CryptoError("dispersion factor must be 8 bytes, got %d" % len(factor))
    suite = Suite.parse(suite)
    f = bytes(factor)
    if suite is Suite.SM4:
        return sm4_encrypt(key, f + invert(f))
    return des3_encrypt(key, f) + des3_encrypt(key, invert(f))


def iv_from_challenge(suite, challenge):
    """MAC IV from the 8-byte card challenge R: SM4 ``R || 00*8``, 3DES ``R``."""
    if len(challenge) != 8:
        raise CryptoError("challenge must be 8 bytes, got %d" % len(challenge))
    if Suite.parse(suite) is Suite.SM4:
        return bytes(challenge) + bytes(8)
    return bytes(challenge)


def pad80(data, block):
    """ISO 9797-1 padding method 2: append 80, then 00 up to a multiple of ``block`` (always)."""
    data = bytes(data) + b"\x80"
    return data + bytes(-len(data) % block)


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def sm4_cbc_mac(key, iv, data):
    """Full 16-byte SM4 CBC-MAC over ``pad80(data)`` with the given IV."""
    if len(iv) != 16:
        raise CryptoError("SM4 MAC IV must be 16 bytes, got %d" % len(iv))
    c = Cipher(algorithms.SM4(bytes(key)), modes.CBC(bytes(iv))).encryptor()
    out = c.update(pad80(data, 16)) + c.finalize()
    return out[-16:]


def retail_mac(key, data, iv=bytes(8)):
    """Full 8-byte ISO 9797-1 MAC algorithm 3 (padding method 2) with a 16-byte key.

    Single-DES CBC under the left half with the IV, then the last block is decrypted
    under the right half and encrypted under the left half.
    """
    if len(key) != 16:
        raise CryptoError("MAC algorithm 3 key must be 16 bytes, got %d" % len(key))
    if len(iv) != 8:
        raise CryptoError("MAC algorithm 3 IV must be 8 bytes, got %d" % len(iv))
    k1, k2 = bytes(key[:8]), bytes(key[8:])
    c = Cipher(TripleDES(k1 * 3), modes.CBC(bytes(iv))).encryptor()
    h = (c.update(pad80(data, 8)) + c.finalize())[-8:]
    return des_encrypt(k1, des_decrypt(k2, h))


def mac(suite, key, iv, data):
    """The 4-byte command MAC of protocol.md section 2."""
    if Suite.parse(suite) is Suite.SM4:
        return sm4_cbc_mac(key, iv, data)[:4]
    return retail_mac(key, data, iv)[:4]


def aes_cmac(key, data):
    """AES-CMAC (RFC 4493 / NIST SP 800-38B), 16 bytes."""
    if len(key) not in (16, 24, 32):
        raise CryptoError("AES-CMAC key must be 16, 24 or 32 bytes, got %d" % len(key))
    c = CMAC(algorithms.AES(bytes(key)))
    c.update(bytes(data))
    return c.finalize()


def ct_equal(a, b):
    """Constant-time comparison of two byte strings (MACs, cryptograms, PINs)."""
    return hmac.compare_digest(bytes(a), bytes(b))


# --- PIN blocks (protocol.md section 3) -----------------------------------------------

def _check_pin(pin):
    if isinstance(pin, (bytes, bytearray)):
        pin = pin.decode("ascii", "replace")
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit():
        raise PinBlockError("PIN must be decimal digits")
    if not 4 <= len(pin) <= 12:
        raise PinBlockError("PIN must have 4 to 12 digits, got %d" % len(pin))
    return pin


def _pack(nibbles):
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def _unpack(data):
    out = []
    for b in data:
        out.append(b >> 4)
        out.append(b & 15)
    return out


def pin_block(suite, pin, rand=os.urandom):
    """Plaintext PIN block with random fill for the suite's block size.

    SM4 (16 bytes): ISO 9564 format 4 layout: ``4 N P.. A..`` to nibble 15, then 8
    random bytes. 3DES (8 bytes): format 3 layout: ``3 N P..`` then random fill nibbles
    A-F. No PAN is mixed in. ``rand(n)`` supplies the random bytes (tests inject it).
    """
    pin = _check_pin(pin)
    suite = Suite.parse(suite)
    n = [int(d) for d in pin]
    if suite is Suite.SM4:
        nib = [4, len(pin)] + n + [0xA] * (14 - len(pin))
        tail = bytes(rand(8))
        if len(tail) != 8:
            raise PinBlockError("random source gave %d bytes" % len(tail))
        return _pack(nib) + tail
    r = bytes(rand(14 - len(pin)))
    nib = [3, len(pin)] + n + [0xA + (b % 6) for b in r]
    return _pack(nib)


def parse_pin_block(suite, block):
    """The PIN (a digit string) of a plaintext PIN block; PinBlockError if malformed.

    Accepts only what ``pin_block`` produces: the control nibble of the suite's format,
    N in 4-12, N decimal digits, then fill ``A`` (format 4, to nibble 15) or fill
    ``A``-``F`` (format 3); the format-4 random half is not checked.
    """
    suite = Suite.parse(suite)
    block = bytes(block)
    if len(block) != suite.block:
        raise PinBlockError("PIN block must be %d bytes, got %d" % (suite.block, len(block)))
    nib = _unpack(block[:8])
    fmt = 4 if suite is Suite.SM4 else 3
    if nib[0] != fmt:
        raise PinBlockError("PIN block control nibble %X, expected %d" % (nib[0], fmt))
    n = nib[1]
    if not 4 <= n <= 12:
        raise PinBlockError("PIN block length nibble %X out of 4-C" % n)
    digits = nib[2:2 + n]
    if any(d > 9 for d in digits):
        raise PinBlockError("PIN block has a non-decimal PIN digit")
    fill = nib[2 + n:16]
    if fmt == 4 and any(f != 0xA for f in fill):
        raise PinBlockError("format 4 PIN block fill must be A")
    if fmt == 3 and any(f < 0xA for f in fill):
        raise PinBlockError("format 3 PIN block fill must be A-F")
    return "".join(str(d) for d in digits)
