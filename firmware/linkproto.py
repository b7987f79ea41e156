# The link's wire format (docs/protocol.md section 9): message types, error codes, the
# key schedule from the pad's link key, and the text-safe frame codec (Framer, the base
# of link.LinkServer). Kept apart from link.py, and commented rather than docstringed,
# so that each stays small enough to compile from source on a 64 KB heap (the firmware
# unit tests import them that way).
import struct
from binascii import crc32, hexlify, unhexlify

from micropython import const

from cmac import Cmac, kdf

PROTO = const(1)

# Message types, the first payload byte (host to pad upper case, pad to host lower).
HELLO = const(0x48)      # H
HELLO_ANS = const(0x68)  # h
PULL = const(0x50)       # P
RECORDS = const(0x70)    # p
ACK = const(0x41)        # A
ACK_OK = const(0x61)     # a
ERROR = const(0x65)      # e

# Directions in the key labels.
TO_PAD = const(1)
TO_HOST = const(2)

# Error codes in ERROR frames (protocol.md 9.6).
E_FRAME = const(1)      # bad syntax: character, odd length, too long, cut, empty
E_CRC = const(2)        # frame CRC wrong (line noise)
E_TYPE = const(3)       # unknown message type
E_LENGTH = const(4)     # wrong length for the message type
E_MAC = const(5)        # MAC wrong: forged, or another key
E_REPLAY = const(6)     # not this session's nonce: replayed, or no HELLO yet
E_EPOCH = const(7)      # not the journal's epoch
E_RANGE = const(8)      # sequence number or count out of range
E_GONE = const(9)       # record already reclaimed
E_STALE = const(10)     # already acknowledged
E_MISMATCH = const(11)  # acknowledged MAC is not the pad's record MAC
E_INTERNAL = const(12)  # the pad failed answering

MAX_LINE = const(256)  # hex characters of one host frame (payload and CRC)
MAX_BATCH = const(8)  # records in one PULL answer

LABEL_JOURNAL = b"PAD-JOURNAL"
LABEL_LINK = b"PAD-LINK"


# Keys derived from the pad's link key (protocol.md 9.1); the context is the pad id.
class Keys:
    def __init__(self, link_key, pad_id):
        if len(pad_id) != 8 or len(link_key) != 16:
            raise ValueError("link key 16 bytes, pad id 8 bytes")
        self.pad_id = bytes(pad_id)
        self._link = bytes(link_key)
        self.journal = Cmac(kdf(self._link, LABEL_JOURNAL, self.pad_id, 16))

    # The Cmac of one message type in one direction.
    def message(self, direction, mtype):
        label = LABEL_LINK + bytes((direction, mtype))
        return Cmac(kdf(self._link, label, self.pad_id, 16))

    # The journal's mac callable: CMAC(K_journal, body || prev).
    def journal_mac(self, prev, body):
        return self.journal.mac(body, prev)


# '#' || hex(payload || CRC-32(payload)) || LF
def frame(payload):
    crc = struct.pack(">I", crc32(payload) & 0xFFFFFFFF)
    return b"#" + hexlify(payload) + hexlify(crc) + b"\n"


# The payload (a memoryview) of a frame's hex characters, without '#' and LF.
# ValueError if malformed, ArithmeticError if the CRC is wrong.
def unframe(hexchars):
    if len(hexchars) & 1:
        raise ValueError("odd number of hex digits")
    p = unhexlify(hexchars)
    if len(p) < 5:
        raise ValueError("frame too short")
    body = memoryview(p)[:-4]
    if crc32(body) & 0xFFFFFFFF != struct.unpack_from(">I", p, len(p) - 4)[0]:
        raise ArithmeticError("frame CRC wrong")
    return body


class _No(Exception):  # a refusal: (code, message) becomes an ERROR frame
    pass


_HEX = b"0123456789abcdef"
_PAYLOAD = const(14 + 64 * MAX_BATCH + 16 + 4)  # the largest answer, MAC and CRC
_OUT = const(2 * _PAYLOAD + 2)


# The frame codec of one side of the line: collects frames from the bytes fed in,
# hands each good payload to self._handle(p) (a memoryview), and frames the answers in
# preallocated buffers (no large block is allocated per answer).
class Framer:
    def __init__(self):
        self._line = bytearray(MAX_LINE)
        self._n = -1  # hex characters collected; -1: outside a frame
        self._buf = bytearray(_PAYLOAD)  # the answer being built
        self._out = bytearray(_OUT)  # framed answers of this feed() call
        self._o = 0
        self._spill = None
        self.frames = 0  # good frames handled
        self.errors = 0  # ERROR frames sent

    # Take the bytes that arrived; return the bytes to write: b"", or a memoryview of
    # an internal buffer, valid until the next feed(). Outside a frame every byte but
    # '#' is ignored (noise, Ctrl-C, other control bytes).
    def feed(self, data):
        self._o = 0
        self._spill = None
        line = self._line
        for i in range(len(data)):
            c = data[i]
            n = self._n
            if c == 0x23:  # '#'
                if n > 0:
                    self._error(E_FRAME, "frame cut by '#'")
                self._n = 0
            elif n < 0:
                pass
            elif c == 0x0A or c == 0x0D:
                self._n = -1
                self._done(n)
            elif not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66):
                self._n = -1
                self._error(E_FRAME, "byte %02x in frame" % c)
            elif n >= MAX_LINE:
                self._n = -1
                self._error(E_FRAME, "frame too long")
            else:
                line[n] = c
                self._n = n + 1
        if self._spill is not None:  # rare: more answers than the buffer holds
            return b"".join(self._spill) + self._out[:self._o]
        return memoryview(self._out)[:self._o] if self._o else b""

    # Frame self._buf[:n] (CRC, hex, '#', LF) into the output.
    def _emit(self, n):
        buf = self._buf
        struct.pack_into(">I", buf, n, crc32(memoryview(buf)[:n]) & 0xFFFFFFFF)
        n += 4
        if self._o + 2 * n + 2 > _OUT:
            if self._spill is None:
                self._spill = []
            self._spill.append(bytes(self._out[:self._o]))
            self._o = 0
        out = self._out
        o = self._o
        out[o] = 0x23
        for i in range(n):
            b = buf[i]
            out[o + 1] = _HEX[b >> 4]
            out[o + 2] = _HEX[b & 15]
            o += 2
        out[o + 1] = 0x0A
        self._o = o + 2

    # MAC buf[:n] || bound (16 bytes) into buf[n:n + 16], then frame it.
    def _emit_mac(self, key, n, bound):
        buf = self._buf
        key.reset()
        key.update(memoryview(buf)[:n])
        key.update(bound)
        key.digest_into(memoryview(buf)[n:n + 16])
        self._emit(n + 16)

    def _done(self, n):
        try:
            if n == 0:
                raise _No(E_FRAME, "empty frame")
            try:
                p = unframe(memoryview(self._line)[:n])
            except ArithmeticError as e:
                raise _No(E_CRC, str(e))
            except ValueError as e:
                raise _No(E_FRAME, str(e))
            self.frames += 1
            self._handle(p)
        except _No as e:
            self._error(e.args[0], e.args[1])
        except Exception as e:  # a bad frame never takes the pad down
            self._error(E_INTERNAL, type(e).__name__)

    def _error(self, code, msg):
        self.errors += 1
        m = msg.encode()[:80]
        buf = self._buf
        buf[0] = ERROR
        buf[1] = code
        buf[2:2 + len(m)] = m
        self._emit(2 + len(m))
