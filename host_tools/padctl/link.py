"""The host's side of the pad link (docs/protocol.md section 9).

``PadLink(stream, link_key, pad_id)`` speaks HELLO, PULL and ACK over a byte stream:
a pyserial port (``open_port``), or a pipe / pty file descriptor (``FdStream``). Every
answer is checked: its frame (CRC), its type, and its MAC under the key of its type and
direction, bound to the request it answers. Keys come from the pad's link key by the
SP 800-108 KDF (CMAC, counter mode), exactly as firmware/kdf.py (Keys) derives them.
"""
import base64
import os
import select
import struct
import time
import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode

from .crypto import ct_equal

PROTO = 1
HELLO, HELLO_ANS = 0x48, 0x68
PULL, RECORDS = 0x50, 0x70
ACK, ACK_OK = 0x41, 0x61
ERROR = 0x65
# the window's unlock and reset (protocol.md 9.7): host to pad W start, U authorisation,
# C command MAC, V verdict; pad to host w (its steps)
WINDOW, AUTH, COMMAND, VERDICT, WIN_ANS = 0x57, 0x55, 0x43, 0x56, 0x77
TO_PAD, TO_HOST = 1, 2
LABEL_JOURNAL = b"PAD-JOURNAL"
LABEL_LINK = b"PAD-LINK"
LABEL_HOLDER = b"PAD-HOLDER"  # the key of the holder-ID hash (9.7)
MAX_BATCH = 32  # records asked in one PULL (the pad sends what its buffer holds: 12)
RECORD = 64

ERRORS = {
    1: "bad frame", 2: "frame CRC wrong", 3: "unknown message type", 4: "wrong length",
    5: "MAC wrong", 6: "stale nonce (replay or old session)", 7: "wrong epoch",
    8: "out of range", 9: "record already reclaimed", 10: "already acknowledged",
    11: "record MAC mismatch", 12: "pad internal error",
}
E_MAC, E_REPLAY, E_GONE, E_STALE, E_MISMATCH = 5, 6, 9, 10, 11
E_BUSY = 12  # the pad cannot answer now: a card session holds its RAM, or it restarts for the link


class LinkError(Exception):
    """The link failed: no answer, a broken frame, the line closed."""


class PadRefused(LinkError):
    """The pad answered with an ERROR frame."""

    def __init__(self, code, detail=""):
        self.code = code
        self.detail = detail  # the ERROR frame's text: the pad sends none (protocol.md 9.3)
        LinkError.__init__(self, "pad refused: %s%s" % (ERRORS.get(code, "error %d" % code),
                                                        " (%s)" % detail if detail else ""))


class AuthError(LinkError):
    """An answer that does not authenticate: forged, replayed, or another pad's key."""


def kdf(key, label, context, length=16):
    """NIST SP 800-108 counter mode, PRF AES-CMAC, r = 32, L = 32 bits, counter first."""
    return KBKDFCMAC(algorithms.AES, Mode.CounterMode, length, 4, 4, CounterLocation.BeforeFixed,
                     label, context, None).derive(bytes(key))


def cmac(key, *parts):
    c = CMAC(algorithms.AES(key))
    for p in parts:
        c.update(bytes(p))
    return c.finalize()


class Keys:
    """The keys derived from one pad's link key (protocol.md 9.1)."""

    def __init__(self, link_key, pad_id):
        link_key, pad_id = bytes(link_key), bytes(pad_id)
        if len(link_key) != 16 or len(pad_id) != 8:
            raise ValueError("the link key is 16 bytes and the pad id 8 bytes")
        self.pad_id = pad_id
        self._link = link_key
        self.journal = kdf(link_key, LABEL_JOURNAL, pad_id)
        self._jmac = CMAC(algorithms.AES(self.journal))  # copied for each record
        self._cache = {}

    def message(self, direction, mtype):
        k = (direction, mtype)
        if k not in self._cache:
            self._cache[k] = kdf(self._link, LABEL_LINK + bytes(k), self.pad_id)
        return self._cache[k]

    def holder_hash(self, nonce, holder_id):
        """The authorisation's keyed hash of the holder's ID number (protocol.md 9.7):
        CMAC(K_H, pad nonce || the 18 ASCII characters), K_H the KDF's key of label
        PAD-HOLDER: an eavesdropper cannot try ID numbers against it."""
        if "holder" not in self._cache:
            self._cache["holder"] = kdf(self._link, LABEL_HOLDER, self.pad_id)
        return cmac(self._cache["holder"], nonce, holder_id)

    def journal_mac(self, prev, body):
        """The journal record MAC: CMAC(K_journal, body (bytes 0..43) || previous MAC)."""
        c = self._jmac.copy()  # (the key schedule made once)
        c.update(bytes(body))
        c.update(bytes(prev))
        return c.finalize()


# --- frames ---------------------------------------------------------------------------

def encode_frame(payload):
    """'#' || hex(payload || CRC-32) || LF."""
    payload = bytes(payload)
    return b"#" + (payload + struct.pack(">I", zlib.crc32(payload))).hex().encode() + b"\n"


def encode_frame64(payload):
    """'$' || base64(payload || CRC-32), unpadded, || LF: the pad's frames (9.2)."""
    payload = bytes(payload)
    text = base64.b64encode(payload + struct.pack(">I", zlib.crc32(payload))).rstrip(b"=")
    return b"$" + text + b"\n"


class FrameError(LinkError):
    """A malformed frame on the line."""


_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def decode_frame(chars, start=0x23):
    """The payload of a frame's characters between its start ('#': hex, '$': base64)
    and the end of line."""
    if start == 0x24:
        if len(chars) % 4 == 1 or not _B64.issuperset(chars):
            raise FrameError("frame with a character outside base64, or a bad length")
        p = base64.b64decode(bytes(chars) + b"=" * (-len(chars) % 4))
    elif len(chars) % 2:
        raise FrameError("frame with an odd number of hex digits")
    else:
        try:
            p = bytes.fromhex(chars.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise FrameError("frame with a non-hex character") from None
    if len(p) < 5:
        raise FrameError("frame too short")
    if zlib.crc32(p[:-4]) != struct.unpack(">I", p[-4:])[0]:
        raise FrameError("frame CRC wrong")
    return p[:-4]


class FrameReader:
    """Cuts frames from a byte stream; bytes outside frames are ignored."""

    def __init__(self, max_line=1 << 16):
        self._buf = bytearray()
        self._in = False
        self._start = 0x23
        self.max_line = max_line

    def feed(self, data):
        """Payloads (bytes) and FrameErrors, in order, for the frames completed by data:
        '#' hex frames and '$' base64 frames (protocol.md 9.2)."""
        out = []
        for c in bytes(data):
            if c == 0x23 or c == 0x24:
                if self._in and self._buf:
                    out.append(FrameError("frame cut by a new '%c'" % c))
                self._in = True
                self._start = c
                self._buf.clear()
            elif not self._in:
                continue
            elif c in (0x0A, 0x0D):
                self._in = False
                try:
                    out.append(decode_frame(bytes(self._buf), self._start))
                except FrameError as e:
                    out.append(e)
            elif len(self._buf) >= self.max_line:
                self._in = False
                out.append(FrameError("frame too long"))
            else:
                self._buf.append(c)
        return out


# --- streams --------------------------------------------------------------------------

class FdStream:
    """A stream over file descriptors (pipes, a pty): read() returns what is there."""

    def __init__(self, rfd, wfd=None, timeout=0.05):
        self.rfd = rfd
        self.wfd = rfd if wfd is None else wfd
        self.timeout = timeout

    def read(self, n=4096):
        r, _, _ = select.select([self.rfd], [], [], self.timeout)
        if not r:
            return b""
        try:
            data = os.read(self.rfd, n)
        except OSError:  # a pty whose other side closed
            data = b""
        if not data:
            raise LinkError("the pad's line closed")
        return data

    def write(self, data):
        view = memoryview(bytes(data))
        while view:
            try:
                n = os.write(self.wfd, view)
            except BrokenPipeError:
                raise LinkError("the pad's line closed") from None
            view = view[n:]

    def close(self):
        for fd in {self.rfd, self.wfd}:
            try:
                os.close(fd)
            except OSError:
                pass


def serial_ports():
    """The serial ports this machine has, in a sentence (for an error message)."""
    try:
        from serial.tools import list_ports
        names = sorted(p.device for p in list_ports.comports())
    except Exception:  # no way to list them here: say nothing wrong
        names = None
    if names is None:
        return "the serial ports could not be listed"
    if not names:
        return "no serial port found on this machine (is the pad plugged in?)"
    return "serial ports here: " + ", ".join(names)


def open_port(port, baudrate=115200):
    """A serial port (or a pty path) via pyserial, raw, with its stale input dropped."""
    import serial

    try:
        s = serial.Serial(port, baudrate=baudrate, timeout=0.05, write_timeout=5)
    except (serial.SerialException, OSError) as e:
        raise LinkError("cannot open %s: %s; %s" % (port, e, serial_ports())) from None
    s.reset_input_buffer()
    return s


# --- the protocol ---------------------------------------------------------------------

@dataclass
class Hello:
    pad_id: bytes
    proto: int
    version: str
    epoch: int
    head: int
    acked: int
    free: int
    nonce: bytes


@dataclass
class Batch:
    epoch: int
    first: int
    head: int
    records: list  # raw 64-byte records, in order


@dataclass
class Acked:
    epoch: int
    seq: int
    acked: int
    free: int


class PadLink:
    """One pad on one stream. link_key: 16 bytes, or a callable pad_id -> key. Without
    pad_id the pad id is taken from the HELLO answer (its MAC, under the keys derived
    for that id, proves it)."""

    def __init__(self, stream, link_key, pad_id=None, timeout=5.0, rand=os.urandom):
        self.stream = stream
        self.timeout = timeout
        self._rand = rand
        self._reader = FrameReader()
        self._pending = []
        self.pad_id = bytes(pad_id) if pad_id is not None else None
        self.keys = None
        if callable(link_key):
            self._key_for = link_key
        else:
            key = bytes(link_key)
            self._key_for = lambda pad: key
            if self.pad_id is not None:
                self.keys = Keys(key, self.pad_id)
        self.session = None  # the last Hello

    # transport
    def _send(self, payload):
        self.stream.write(encode_frame(payload))
        if hasattr(self.stream, "flush"):
            self.stream.flush()

    def _read_some(self):
        waiting = getattr(self.stream, "in_waiting", None)
        if waiting is None:
            return self.stream.read(4096)
        return self.stream.read(max(1, waiting))

    def _frame(self):
        deadline = time.monotonic() + self.timeout
        while not self._pending:
            if time.monotonic() > deadline:
                raise LinkError("no answer from the pad within %.1f s" % self.timeout)
            data = self._read_some()
            if data:
                self._pending.extend(self._reader.feed(data))
        got = self._pending.pop(0)
        if isinstance(got, FrameError):
            raise got
        return got

    def drain(self, quiet=0.05):
        """Drop whatever the line holds (answers to an earlier, broken run)."""
        self._pending.clear()
        end = time.monotonic() + 2.0
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            if self._read_some():
                last = time.monotonic()
        self._reader = FrameReader()

    def _request(self, payload, answer_type, size=None):
        self._send(payload)
        p = self._frame()
        if p[0] == ERROR and len(p) >= 2:
            raise PadRefused(p[1], p[2:].decode("ascii", "replace"))
        if p[0] != answer_type:
            raise LinkError("answer of type 0x%02x where 0x%02x was due" % (p[0], answer_type))
        if size is not None and len(p) != size:
            raise LinkError("answer of %d bytes where %d were due" % (len(p), size))
        return p

    def _check(self, p, direction, mtype, bound):
        want = cmac(self.keys.message(direction, mtype), p[:-16], bound)
        if not ct_equal(want, p[-16:]):
            raise AuthError("pad %s: answer MAC wrong (forged, replayed or another key)"
                            % self.pad_id.hex())

    # messages
    def hello(self, wait=10.0):
        """A new session: the pad's state over a fresh host nonce, MACed. A pad that
        answers busy (12: a 64 KB pad restarting into its link-first boot for this host,
        docs/protocol.md 9.5, or serving a card) or none (restarting: what is sent while it
        restarts is lost, as on a UART) is asked again for up to `wait` seconds, every
        0.2 s and each time waiting at most 1 s for the answer, stale answers dropped."""
        end, timeout = time.monotonic() + wait, self.timeout
        try:
            while True:
                hn = self._rand(16)
                try:
                    p = self._request(bytes([HELLO]) + hn, HELLO_ANS, 74)
                    break
                except PadRefused as e:
                    if e.code != E_BUSY or time.monotonic() > end:
                        raise
                except AuthError:
                    raise
                except LinkError:
                    if time.monotonic() > end:
                        raise
                self.timeout = min(timeout, 1.0)
                time.sleep(0.2)
                self.drain(0.05)
        finally:
            self.timeout = timeout
        proto, pad, ver, epoch, head, acked, free = struct.unpack_from(">B8s16sIIII", p, 1)
        if self.pad_id is not None and pad != self.pad_id:
            raise AuthError("the pad on this line is %s, not %s" % (pad.hex(), self.pad_id.hex()))
        if self.keys is None or self.keys.pad_id != pad:
            self.pad_id = pad
            self.keys = Keys(self._key_for(pad), pad)
        self._check(p, TO_HOST, HELLO_ANS, hn)
        if proto != PROTO:
            raise LinkError("pad speaks link protocol %d, this host %d" % (proto, PROTO))
        self.session = Hello(pad, proto, ver.rstrip(b"\0").decode("ascii", "replace"), epoch,
                             head, acked, free, p[42:58])
        return self.session

    def _nonce(self):
        if self.session is None:
            raise LinkError("no session: HELLO first")
        return self.session.nonce

    # the window's messages (protocol.md 9.7): each MACed under K(d, its type) over its
    # bytes || the MAC of the operation's message before it (W: nothing, the session's
    # nonce is its field; U: nothing, the pad's nonce is its field)
    def window_request(self, op, wait):
        """W: start a window operation (op 1 unlock, 2 reset; wait: seconds the pad waits
        for the holder's card), bound to this session's pad nonce."""
        body = struct.pack(">BBH", WINDOW, op, max(1, min(int(wait), 0xFFFF))) + self._nonce()
        return body + cmac(self.keys.message(TO_PAD, WINDOW), body)

    def window_message(self, mtype, body, prev=b""):
        """A host message of the window: type, body, MAC under K(01,type) || prev."""
        body = bytes([mtype]) + bytes(body)
        return body + cmac(self.keys.message(TO_PAD, mtype), body, prev)

    def send(self, payload):
        """Send one frame (no answer awaited)."""
        self._send(payload)

    def window_next(self, prev, timeout, again=False):
        """The pad's next window message (w), its MAC checked || prev; PadRefused for an
        ERROR frame; LinkError if none comes within timeout seconds. again: the frame
        whose MAC did not check, checked once more with this prev."""
        if again:
            p = self._last
        else:
            saved, self.timeout = self.timeout, timeout
            try:
                p = self._last = self._frame()
            finally:
                self.timeout = saved
        if p[0] == ERROR and len(p) >= 2:
            raise PadRefused(p[1], p[2:].decode("ascii", "replace"))
        if p[0] != WIN_ANS or len(p) < 18:
            raise LinkError("window: a frame of type 0x%02x where w was due" % p[0])
        self._check(p, TO_HOST, WIN_ANS, prev)
        return p

    def pull_request(self, epoch, first, count):
        body = struct.pack(">BIIH", PULL, epoch, first, count) + self._nonce()
        return body + cmac(self.keys.message(TO_PAD, PULL), body)

    def ack_request(self, epoch, seq, record_mac):
        body = struct.pack(">BII", ACK, epoch, seq) + bytes(record_mac) + self._nonce()
        return body + cmac(self.keys.message(TO_PAD, ACK), body)

    def pull(self, first, count=MAX_BATCH, epoch=None):
        """Raw records first.. (up to count; the pad may send fewer, none past its head),
        rebuilt byte for byte from the packed answer (protocol.md 9.3)."""
        epoch = self.session.epoch if epoch is None and self.session else epoch
        req = self.pull_request(epoch, first, count)
        p = self._request(req, RECORDS)
        if len(p) < 34:
            raise LinkError("PULL answer of %d bytes" % len(p))
        self._check(p, TO_HOST, RECORDS, req[-16:])
        e, f, n, head, raw = struct.unpack_from(">IIBII", p, 1)
        if (e, f) != (epoch, first) or n > count:
            raise AuthError("pad %s: PULL answer for another request" % self.pad_id.hex())
        try:
            recs = unpack_records(p[18:-16], n, raw, e, f)
        except ValueError as err:
            raise LinkError("PULL answer: %s" % err) from None
        return Batch(e, f, head, recs)


    def ack(self, seq, record_mac, epoch=None):
        """Acknowledge every record up to seq; the pad checks record_mac against its own."""
        epoch = self.session.epoch if epoch is None and self.session else epoch
        req = self.ack_request(epoch, seq, record_mac)
        p = self._request(req, ACK_OK, 33)
        self._check(p, TO_HOST, ACK_OK, req[-16:])
        e, s, acked, free = struct.unpack_from(">IIII", p, 1)
        if (e, s) != (epoch, seq):
            raise AuthError("pad %s: ACK answer for another request" % self.pad_id.hex())
        return Acked(e, s, acked, free)


def unpack_records(body, n, raw, epoch, first):
    """The n 64-byte slots of a PULL answer's packed records (protocol.md 9.3): bit i of
    raw set, slot i as stored; else a packed record, rebuilt with the fields it left
    out (magic 4A, the epoch, seq = the previous packed record's + 1 from first - 1
    unless a 00 seq comes first, zeros, the CRC). ValueError when body is not n
    records."""
    body = bytes(body)
    out = []
    i = 0
    seq, t, boot, card = first - 1, 0, None, bytes(16)
    for k in range(n):
        if raw >> k & 1:
            if i + RECORD > len(body):
                raise ValueError("slot %d cut short" % k)
            out.append(body[i:i + RECORD])
            i += RECORD
            continue
        if i < len(body) and body[i] == 0:  # 00 seq: not the one due
            if i + 7 > len(body):
                raise ValueError("record %d cut short" % k)
            seq = struct.unpack_from(">I", body, i + 1)[0] - 1
            i += 5
        if i + 2 > len(body):
            raise ValueError("record %d cut short" % k)
        kind, f = body[i], body[i + 1]
        dl, flags, mode = f & 15, f >> 4 & 1, f >> 6
        i += 2
        d = shift = 0
        while True:  # the time's delta: 7 bits a byte, low first
            if i >= len(body) or shift > 28:
                raise ValueError("record %d: bad time" % k)
            c = body[i]
            i += 1
            d |= (c & 127) << shift
            shift += 7
            if c < 128:
                break
        t = (t + d) & 0xFFFFFFFF
        if f & 32:
            boot = struct.unpack_from(">H", body, i)[0]
            i += 2
        if boot is None or dl > 8 or mode == 3:
            raise ValueError("record %d: bad packing" % k)
        if mode == 0:
            cid = bytes(16)
        elif mode == 1:
            cid = card
        else:
            cid = card = body[i:i + 16]
            i += 16
        data, mac = body[i:i + dl], body[i + dl:i + dl + 16]
        i += dl + 16
        if i > len(body):
            raise ValueError("record %d cut short" % k)
        seq += 1
        rec = (struct.pack(">BBBBIIHHI", 0x4A, kind, flags, dl, epoch, seq, boot, 0, t)
               + cid + data.ljust(8, b"\0") + mac)
        out.append(rec + struct.pack(">I", zlib.crc32(rec)))
    if i != len(body):
        raise ValueError("%d bytes after the records" % (len(body) - i))
    return out
