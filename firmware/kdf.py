# The key derivation function of NIST SP 800-108 in counter mode with AES-CMAC as the PRF,
# and the keys of one pad's link key (docs/protocol.md 9.1). Loaded at boot, before the
# card session's code, and dropped once the journal's key is made (app.py); the link-first
# boot keeps it, and makes the link's key schedules first of all (schedules).
import cryptolib

from cmac import mac


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
        # The journal's mac= callable: CMAC(K_J, body || prev) (cmac.chain keeps less).
        return mac(self.journal, body, prev)


def configured(cfg):
    """The pad's Keys from its configuration's link key and pad id (hex); None when it
    is not provisioned (no link key, or a malformed one): no link."""
    try:
        from binascii import unhexlify
        return Keys(unhexlify(cfg["link_key"]), unhexlify(cfg["pad_id"]))
    except (KeyError, ValueError):
        return None


def schedules(keys):
    # The AES key schedules (cryptolib objects of 320 bytes each) of the link's message
    # keys (link_keys), in that order (tests and tools; a link-first boot makes them in
    # padinit.py, once the journal is open).
    k = link_keys(keys, True)
    return tuple(cryptolib.aes(bytes(k[i:i + 16]), 1) for i in range(0, len(k), 16))


def link_keys(keys, link):
    # The message keys of a link-first boot (link True: the h, p, a answers' and the P, A
    # requests', protocol.md 9.1), or of a window boot's (False, 9.7: the W, U, C and V
    # requests', the w answers', then the holder-ID hash key), 16 bytes each in one
    # buffer, made before any of them: the derivation's garbage (a 320-byte AES schedule a
    # key) then lies above it in one piece, not between long-lived keys (a full ring's
    # opening found no 368-byte piece in 14 KB free). Keys, not schedules: padinit.py
    # makes the link's once the journal is open; window.py each when it MACs.
    out = bytearray(80 if link else 96)
    for i, t in enumerate(b"hpaPA" if link else b"WUCVw"):
        out[i * 16:i * 16 + 16] = keys.key(b"PAD-LINK" + bytes((1 if t < 0x60 else 2, t)))
    if not link:
        out[80:] = keys.key(b"PAD-HOLDER")
    return out
