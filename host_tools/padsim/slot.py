"""The simulated card slot (docs/protocol.md section 7.1): T=0 characters over loopback TCP.

``SlotServer(processor)`` listens on 127.0.0.1 (``port=0`` picks a free port, read
``.port`` / ``.addr``) and serves each connection as one activation of the card in the
slot: it sends the ATR, then reads 5-byte headers and answers them exactly as a T=0
card does, around an APDU processor (``VirtualCard``, ``VirtualPsam``, anything with
``process(apdu) -> data + SW`` and ``reset()``):

- procedure bytes: ACK = INS (all remaining data), ~INS (one byte), NULL ``60`` (wait),
  or SW1 SW2;
- case 1 (P3 = 0 on an incoming INS), case 2 (outgoing INS: P3 is Le, ``00`` = 256;
  a processor answer of another length gets ``6Cxx`` and the pad re-issues), case 3
  (incoming INS: ACK, data), case 4 sent as case 3: the processor's data is kept and
  announced with ``61xx``, and GET RESPONSE ``00 C0 00 00 xx`` (handled here, never by
  the processor) delivers it (``6Cxx`` if xx is too long, ``61yy`` if more remains).
  Which INS are outgoing and incoming is configurable (``outgoing`` / ``incoming``).

With no card inserted a connection is accepted and closed at once (no ATR). ``pull()``
removes the card (closing the connection); ``insert(processor)`` inserts one.

``detect=True`` adds the card-detect switch (docs/protocol.md 7.1): a second listener
(``.detect_addr``, the pad's ``PAD_CARD_DETECT``) whose connections get one byte now
(``1`` a card is in the slot, ``0`` none) and one at every insertion and removal, sent
after the slot has changed: the pad waits for that event instead of polling.

Fault knobs (constructor keywords, also plain attributes; randomness comes from
``random.Random(seed)`` so runs are reproducible):

- ``chunks``: send answers in random chunks of 1-8 bytes, ``chunk_delay`` s max apart;
- ``nulls``: probability of a run of 1-3 NULL bytes (each followed by ``null_delay`` s)
  before each procedure byte and each status word;
- ``stall_nulls``: a card that stretches every command: before answering each header
  it sends this many NULL bytes, one every ``stall_delay`` s (each within any work
  waiting time, so only the pad's own cap ends the wait); combine with a long-WWT
  ``atr`` (``make_atr(ta1=0xD1, wi=0xFF)``: 140 s);
- ``byte_by_byte``: probability (True = 1) of moving each data byte with ~INS;
- ``always_61``: answer case-2 commands (not GET RESPONSE) with ``61xx`` too;
- ``le_mismatch``: answer each case-2 command first with ``6Cxx`` (xx the exact
  length), serving it only when the pad re-issues it;
- ``garbage``: answer every header with 1-8 random bytes;
- ``silent_after``: send nothing more once this many bytes (ATR included) were sent;
- ``pull_after``: pull the card (close) once this many bytes were sent;
- ``truncate``: drop the last ``truncate`` bytes of each final answer (data + SW) to an
  INS in ``truncate_ins`` (None: every INS), then wait for the next header;
- ``on_byte(direction, index, byte)``: called for every byte, ``"tx"`` before it is
  sent, ``"rx"`` after it is received (index counts per direction from 0 at the
  activation, ATR included); a true return cuts the connection right there (a power
  cut; the card stays inserted).

Counters per activation: ``tx``, ``rx``, ``transcript`` (list of ("tx"|"rx", bytes));
``activations`` counts connections that got an ATR.

**PPS and the rate** (ISO 7816-3 clause 9; docs/protocol.md 4a): a pad's first bytes
after the ATR may be a PPS request (PPSS ``FF``: no command starts with CLA FF). An
erroneous request (bad PCK, PPS0 asking for another protocol than T=0) gets no answer,
as the standard says. Otherwise ``pps`` (a keyword and attribute) says how the card
answers: ``"accept"`` (default) echoes a request for the Fi/Di its ATR's TA1 offers
(or for 11, the default) and then runs at that rate, and answers any other request
with PPS0 ``00`` (PPS1 absent: the default rate); ``"refuse"`` always answers
``FF 00 FF`` (the default rate); ``"garble"`` echoes the request with PPS1 changed
(PCK right for it); ``"bad_pck"`` echoes with a wrong PCK; ``"silent"`` sends nothing.
The ATR's TA1 comes from ``make_atr(ta1=...)`` (or the processor's ``atr``, e.g.
``VirtualCard(path, ta1=0x13)``).

**Wire time** (what ``make bench`` counts): every character is timed at the rate in
force (one ETU = F / D clocks at ``CLOCK_HZ``, 3.5712 MHz: 9600 baud at F/D 372/1):
a character after one in the same direction 12 ETU from leading edge to leading edge
(the card's always; the pad's plus TC1's extra guard time N, none for N = 255: 12 ETU
in T=0 and PPS), a character that turns the line around 16 ETU after the last one the
other way (ISO 7816-3: the delay between leading edges of characters in opposite
directions; the pad's at least its own guard time), the activation's first character
12 ETU. ``wire_s`` is the activation's total, and ``timeline`` one (time.monotonic(),
direction, seconds) per character, so the bench can tell what ran while what.

``paced=True`` (the bench's) holds the wire to that time in real time: a character
starts once the one before it on this wire has ended (the pad's bytes arrive at once
over TCP, and are then taken to cross the wire one after another), and the card's
characters reach the pad only when the wire has carried them (the slot sleeps until
then). The timeline's times are then the characters' starts on the wire, so two paced
slots show what a pad that drives both wires at once overlaps. ``echo=True`` sends the
pad each character it sent back, once it has crossed the wire (the one I/O line of ISO
7816-3, as the ESP32 board's UART hears it): a pad that waits for its echoes
(PAD_WIRE_ECHO=1, boards/unix_sim) has written only once its characters are on the wire,
as on the ESP32 board, and does nothing else meanwhile.
"""
import random
import socket
import threading
import time

CLOCK_HZ = 3571200  # the card clock (boards/esp32_pinpad/pins.py CLK_HZ): 9600 baud at 372/1
# ISO 7816-3 tables 7 and 8: Fi by TA1's high nibble, Di by its low one (None: reserved)
FI = (372, 372, 558, 744, 1116, 1488, 1860, None, None, 512, 768, 1024, 1536, 2048, None, None)
DI = (None, 1, 2, 4, 8, 16, 32, 64, 12, 20, None, None, None, None, None, None)
PPS_MODES = ("accept", "refuse", "garble", "bad_pck", "silent")
DEFAULT_OUTGOING = frozenset((0xB0, 0x84, 0xC0))
DEFAULT_INCOMING = frozenset((0xA4, 0x20, 0x88, 0x24, 0x5E, 0x1A, 0xFA))
GET_RESPONSE = 0xC0
NULL = 0x60


def make_atr(historical=b"", ta1=None, tc1=None, wi=10, t1=False, ifsc=0x20, bwi_cwi=0x45):
    """An ISO 7816-3 ATR: TS 3B (direct convention), T0, interface bytes, historical bytes.

    ``ta1`` (Fi/Di) and ``tc1`` (extra guard time) are sent only when given; ``wi`` is
    sent as TC2 (T=0 specific, waiting integer; None leaves it out: default 10).
    ``t1=True`` also offers T=1 (TD2, TA3 = IFSC, TB3 = BWI/CWI) and then, and only
    then, appends TCK.
    """
    historical = bytes(historical)
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    if wi is not None and not 1 <= wi <= 255:
        raise ValueError("WI must be 1-255")
    need_td1 = wi is not None or t1
    y1 = (0x10 if ta1 is not None else 0) | (0x40 if tc1 is not None else 0) | (0x80 if need_td1 else 0)
    out = bytearray((0x3B, y1 | len(historical)))
    if ta1 is not None:
        out.append(ta1)
    if tc1 is not None:
        out.append(tc1)
    if need_td1:
        out.append((0x40 if wi is not None else 0) | (0x80 if t1 else 0) | 0x0)  # TD1: T=0
        if wi is not None:
            out.append(wi)  # TC2
        if t1:
            out.append(0x30 | 0x1)  # TD2: TA3, TB3 follow; T=1
            out.extend((ifsc, bwi_cwi))
    out.extend(historical)
    if t1:
        tck = 0
        for b in out[1:]:
            tck ^= b
        out.append(tck)
    return bytes(out)


def atr_rate(atr):
    """(TA1, TC1) of an ATR (None where absent)."""
    atr = bytes(atr)
    if len(atr) < 2:
        return None, None
    y, i = atr[1], 2
    ta1 = tc1 = None
    if y & 0x10 and i < len(atr):
        ta1 = atr[i]
        i += 1
    if y & 0x20:
        i += 1
    if y & 0x40 and i < len(atr):
        tc1 = atr[i]
    return ta1, tc1


def fd(ta1):
    """(F, D) of a TA1 byte, None for a reserved one."""
    f, d = FI[ta1 >> 4], DI[ta1 & 15]
    return (f, d) if f and d else None


# Historical bytes: category 80, COMPACT-TLV: card service data (31 C0: direct
# application selection by full / partial DF name), card issuer's data (5x).
CARD_HISTORICAL = b"\x80\x31\xc0\x53SSC"
PSAM_HISTORICAL = b"\x80\x31\xc0\x54PSAM"
CARD_ATR = make_atr(CARD_HISTORICAL)
PSAM_ATR = make_atr(PSAM_HISTORICAL)


class _Cut(Exception):
    """The connection ended (pad gone, card pulled, power cut)."""


class SlotServer:
    """A card or PSAM slot of the simulated world; see the module docstring."""

    def __init__(self, processor=None, host="127.0.0.1", port=0, name="card", atr=None,
                 seed=0, chunks=False, chunk_delay=0.002, nulls=0.0, null_delay=0.02,
                 stall_nulls=0, stall_delay=1.0, byte_by_byte=0.0, always_61=False, le_mismatch=False, garbage=False,
                 silent_after=None, pull_after=None, truncate=None, truncate_ins=None,
                 on_byte=None, outgoing=DEFAULT_OUTGOING, incoming=DEFAULT_INCOMING,
                 detect=False, pps="accept", paced=False, echo=False):
        self.name = name
        self.paced = paced
        self.echo = echo
        self.atr = atr
        self.rng = random.Random(seed)
        self.chunks, self.chunk_delay = chunks, chunk_delay
        self.nulls, self.null_delay = float(nulls), null_delay
        self.stall_nulls, self.stall_delay = stall_nulls, stall_delay
        self.byte_by_byte = float(byte_by_byte)
        self.always_61 = always_61
        self.le_mismatch = le_mismatch
        self.garbage = garbage
        self.silent_after = silent_after
        self.pull_after = pull_after
        self.truncate = truncate
        self.truncate_ins = truncate_ins
        self.on_byte = on_byte
        if pps not in PPS_MODES:
            raise ValueError("pps must be one of %s" % ", ".join(PPS_MODES))
        self.pps = pps
        self.pps_requests = []  # the PPS requests received (bytes), every activation
        self.rate = (372, 1)  # F, D in force on this activation
        self.tc1 = None  # the extra guard time N of the ATR sent
        self.wire_s = 0.0
        self.timeline = []
        self._last_dir = None
        self._busy = 0.0  # paced: time.monotonic() at which the wire's last character ends
        self.outgoing = frozenset(outgoing)
        self.incoming = frozenset(incoming)
        self.activations = 0
        self.connections = 0  # every connection, with a card or not (a pad polling)
        self.error = None  # the last exception a processor raised (the card went mute)
        self.tx = self.rx = 0
        self.transcript = []
        self._proc = processor
        self._lock = threading.RLock()     # processor, current connection
        self._conn = None
        self._closed = False
        self._ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._ls.bind((host, port))
        self._ls.listen(8)
        self.host, self.port = self._ls.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, name="slot-" + name, daemon=True)
        self._thread.start()
        self._detect = []  # the card-detect connections
        self._dls = None
        if detect:
            self._dls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._dls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._dls.bind((host, 0))
            self._dls.listen(4)
            threading.Thread(target=self._accept_detect, name="detect-" + name,
                             daemon=True).start()

    # --- control ------------------------------------------------------------------------
    @property
    def addr(self):
        """``host:port`` as the pad's PAD_CARD / PAD_PSAM want it."""
        return "%s:%d" % (self.host, self.port)

    @property
    def detect_addr(self):
        """``host:port`` of the card-detect switch (PAD_CARD_DETECT), None without one."""
        return None if self._dls is None else "%s:%d" % self._dls.getsockname()[:2]

    @property
    def present(self):
        return self._proc is not None

    @property
    def processor(self):
        return self._proc

    def insert(self, processor):
        """Put a card in the slot (any connection in progress is cut first)."""
        with self._lock:
            self._drop_conn()
            self._proc = processor
            self._signal()

    def pull(self):
        """Take the card out: the pad sees its connection closed, then no card."""
        with self._lock:
            self._proc = None
            self._drop_conn()
            self._signal()

    def cut(self):
        """Close the current connection (as a deactivation); the card stays inserted."""
        with self._lock:
            self._drop_conn()

    def close(self):
        self._closed = True
        with self._lock:
            self._drop_conn()
        try:
            self._ls.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._ls.close()
        self._thread.join(timeout=2)
        if self._dls is not None:
            try:
                self._dls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._dls.close()
            with self._lock:
                for c in self._detect:
                    c.close()
                self._detect = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _drop_conn(self):
        c, self._conn = self._conn, None
        if c is not None:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    # --- the card-detect switch ---------------------------------------------------------
    def _accept_detect(self):
        while not self._closed:
            try:
                conn, _ = self._dls.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._detect.append(conn)
                self._signal([conn])

    def _signal(self, conns=None):
        """The slot's state (b"1" a card, b"0" none) to the card-detect connections (called
        with the lock held, after the change)."""
        state = b"1" if self._proc is not None else b"0"
        for c in list(self._detect if conns is None else conns):
            try:
                c.sendall(state)
            except OSError:
                self._detect.remove(c)
                c.close()

    # --- connections -------------------------------------------------------------------
    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self._ls.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._drop_conn()  # a new activation powers the old one off
                if self._proc is None or self._closed:
                    conn.close()   # no card: no ATR
                    continue
                self._conn = conn
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            with self._lock:
                if conn is not self._conn:
                    return
                proc = self._proc
                self.activations += 1
                self.tx = self.rx = 0
                self.transcript = []
                self.rate = (372, 1)
                self.wire_s = 0.0
                self.timeline = []
                self._last_dir = None
                self._busy = 0.0
                self._pending = None       # (data, sw) waiting for GET RESPONSE
                self._mismatched = None    # header answered 6Cxx by le_mismatch
                proc.reset()
                atr = self.atr or getattr(proc, "atr", None) or (
                    PSAM_ATR if self.name.lower() == "psam" else CARD_ATR)
            self.tc1 = atr_rate(atr)[1]
            self._send(conn, atr)
            first = self._recv(conn, 1)
            if first[0] == 0xFF:  # PPSS: a PPS request, not a command (CLA FF is invalid)
                self._pps_exchange(conn, atr)
                hdr = self._recv(conn, 5)
            else:
                hdr = first + self._recv(conn, 4)
                self._record(conn, ("rx", hdr), 2)  # one piece, as the header came
            while True:
                self._tpdu(conn, proc, hdr)
                hdr = self._recv(conn, 5)
        except (_Cut, OSError):
            pass
        except Exception as e:  # a processor bug: the card goes mute, the test can see why
            self.error = e
        finally:
            with self._lock:
                if self._conn is conn:
                    self._conn = None
            try:
                conn.close()
            except OSError:
                pass

    # --- PPS and the rate -------------------------------------------------------------
    def _pps_exchange(self, conn, atr):
        """The card's side of a PPS (PPSS already read): see the module docstring."""
        req = bytearray(b"\xff") + self._recv(conn, 1)
        pps0 = req[1]
        for bit in (0x10, 0x20, 0x40):
            if pps0 & bit:
                req += self._recv(conn, 1)
        req += self._recv(conn, 1)  # PCK
        self.pps_requests.append(bytes(req))  # (every activation's: the pad sent it)
        self._record(conn, ("rx", bytes(req)), len(req))
        x = 0
        for b in req:
            x ^= b
        if x or pps0 & 0x8F:  # erroneous (PCK), or not T=0: no answer (ISO 7816-3 9.2)
            return
        mode = self.pps
        if mode == "silent":
            return
        pps1 = req[2] if pps0 & 0x10 else None
        offered = atr_rate(atr)[0]
        resp = bytearray(req)
        if mode == "refuse" or (mode == "accept" and pps1 is not None
                                and pps1 not in (offered, 0x11)):
            resp = bytearray((0xFF, pps0 & 0x0F))  # PPS0 without PPS1 (nor PPS2, PPS3)
            resp.append(resp[0] ^ resp[1])
            pps1 = None
        elif mode == "garble" and pps1 is not None:
            resp[2] = 0x11 if pps1 != 0x11 else 0x12
            resp[-1] = 0
            for b in resp[:-1]:
                resp[-1] ^= b
        elif mode == "bad_pck":
            resp[-1] ^= 0xFF
        self._send(conn, bytes(resp))
        if mode == "accept" and pps1 is not None:  # the new rate from the next character
            self.rate = fd(pps1) or (372, 1)

    def etu_s(self):
        """One ETU at the rate in force, in seconds."""
        f, d = self.rate
        return f / d / CLOCK_HZ

    def _tick(self, direction, n):
        """n characters in one direction ("rx": pad to card, "tx": card to pad), timed.
        Each timeline entry's time is the character's start: when it came (or is sent)
        here, or, paced, when the wire is free for it (the characters before it on this
        wire ended). Returns when the last of them ends on the wire (paced)."""
        etu = self.etu_s()
        n_extra = self.tc1 if self.tc1 is not None and self.tc1 != 255 else 0
        now = time.monotonic()
        at = max(now, self._busy) if self.paced else now
        for _ in range(n):
            if self._last_dir is None:
                gap = 12
            elif direction == self._last_dir:
                gap = 12 + n_extra if direction == "rx" else 12
            else:
                gap = max(16, 12 + n_extra) if direction == "rx" else 16
            self._last_dir = direction
            self.wire_s += gap * etu
            self.timeline.append((at, direction, gap * etu))
            if self.paced:
                at += gap * etu
        self._busy = at
        return at

    # --- bytes --------------------------------------------------------------------------
    def _record(self, conn, entry, replace=0):
        """Append to the transcript of conn's activation (replacing its last `replace`
        entries): nothing once a newer activation began. A thread still finishing a
        connection the pad closed (a failed PPS, then the cold reset) must not write into
        the next activation's transcript (seen under load: test_pps_flows[garble] found
        the first activation's PPS request in the second's)."""
        with self._lock:
            if conn is not self._conn:
                raise _Cut()
            if replace:
                del self.transcript[-replace:]
            self.transcript.append(entry)

    def _live(self, conn):
        if conn is not self._conn:
            raise _Cut()

    def _recv(self, conn, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                got = conn.recv(n - len(buf))
            except OSError:
                raise _Cut() from None
            if not got:
                raise _Cut()
            for b in got:
                idx = self.rx
                self.rx += 1
                if self.on_byte is not None and self.on_byte("rx", idx, b):
                    self.cut()
                    raise _Cut()
            buf.extend(got)
            end = self._tick("rx", len(got))
            if self.echo:  # the single I/O line: the pad hears its own characters as
                wait = end - time.monotonic()  # they cross it (paced: once they have)
                if wait > 0:
                    time.sleep(wait)
                try:
                    conn.sendall(got)
                except OSError:
                    raise _Cut() from None
        self._record(conn, ("rx", bytes(buf)))
        return bytes(buf)

    def _send(self, conn, data):
        """Send bytes, in random chunks if asked, honouring the byte-count knobs."""
        data = bytes(data)
        if not data:
            return
        pieces = [data]
        if self.chunks:
            pieces, i = [], 0
            while i < len(data):
                k = self.rng.randint(1, 8)
                pieces.append(data[i:i + k])
                i += k
        for n, piece in enumerate(pieces):
            if n:
                time.sleep(self.rng.uniform(0, self.chunk_delay))
            self._emit(conn, piece)

    def _emit(self, conn, piece):
        self._live(conn)
        out = bytearray()
        for b in piece:
            if self.pull_after is not None and self.tx >= self.pull_after:
                self._flush(conn, out)
                self.pull()
                raise _Cut()
            idx = self.tx
            self.tx += 1
            if self.silent_after is not None and idx >= self.silent_after:
                continue
            if self.on_byte is not None:
                self._flush(conn, out)
                out = bytearray()
                if self.on_byte("tx", idx, b):
                    self.cut()
                    raise _Cut()
            out.append(b)
        self._flush(conn, out)

    def _flush(self, conn, out):
        if out:
            if self.paced:  # the pad gets them when the wire has carried the last one
                wait = self._tick("tx", len(out)) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            try:
                conn.sendall(bytes(out))
            except OSError:
                raise _Cut() from None
            if not self.paced:
                self._tick("tx", len(out))
            self._record(conn, ("tx", bytes(out)))

    def _nulls(self, conn):
        if self.nulls and self.rng.random() < self.nulls:
            for _ in range(self.rng.randint(1, 3)):
                self._send(conn, bytes((NULL,)))
                time.sleep(self.null_delay)

    def _procedure(self, conn, b):
        self._nulls(conn)
        self._send(conn, bytes((b,)))

    def _status(self, conn, sw, data=b"", ins=None):
        """The final answer: data (already ACKed) + SW, NULLs before SW, truncation."""
        tail = bytes(data) + bytes((sw >> 8, sw & 0xFF))
        if self.truncate and (self.truncate_ins is None or ins in self.truncate_ins):
            self._send(conn, tail[:max(0, len(tail) - self.truncate)])
            return
        if data:
            self._send(conn, data)
        self._nulls(conn)
        self._send(conn, tail[-2:])

    def _one_at_a_time(self):
        return self.byte_by_byte and self.rng.random() < self.byte_by_byte

    # --- T=0 ----------------------------------------------------------------------------
    def _process(self, proc, apdu):
        with self._lock:
            r = bytes(proc.process(apdu))
        if len(r) < 2:
            raise ValueError("processor answered %r: no status word" % r)
        return r[:-2], (r[-2] << 8) | r[-1]

    def _tpdu(self, conn, proc, hdr):
        ins, p3 = hdr[1], hdr[4]
        for _ in range(self.stall_nulls):
            self._send(conn, bytes((NULL,)))
            time.sleep(self.stall_delay)
        if self.garbage:
            self._send(conn, bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 8))))
            return
        if ins == GET_RESPONSE and self._pending is not None:
            data, sw = self._pending
            self._outgoing(conn, hdr, data, sw, getting=True)
            return
        self._pending = None
        if ins == GET_RESPONSE:
            self._status(conn, 0x6985, ins=ins)   # nothing to get
        elif ins in self.outgoing:
            data, sw = self._process(proc, hdr)
            if not data:
                # the processor's own 6Cxx (e.g. READ BINARY with Le 00): serve the re-issue
                self._mismatched = bytes(hdr[:4]) if sw >> 8 == 0x6C else None
                self._status(conn, sw, ins=ins)
            elif self.always_61:
                self._keep(conn, data, sw, ins)
            else:
                self._outgoing(conn, hdr, data, sw)
        elif ins in self.incoming:
            if p3 == 0:  # case 1
                data, sw = self._process(proc, hdr[:4])
            else:
                body = self._incoming(conn, ins, p3)
                data, sw = self._process(proc, hdr + body)
            if data:
                self._keep(conn, data, sw, ins)
            else:
                self._status(conn, sw, ins=ins)
        else:  # unknown direction: let the processor judge the header (6D00, 6E00, ...)
            data, sw = self._process(proc, hdr)
            if data:
                self._outgoing(conn, hdr, data, sw)
            else:
                self._status(conn, sw, ins=ins)

    def _keep(self, conn, data, sw, ins):
        """Case 4 (or always_61): keep the data for GET RESPONSE, announce it with 61xx."""
        self._pending = (data, sw)
        self._status(conn, 0x6100 | (len(data) & 0xFF), ins=ins)

    def _outgoing(self, conn, hdr, data, sw, getting=False):
        """Case 2: Le = P3 must be the exact length, else 6Cxx and the pad re-issues."""
        ins = hdr[1]
        le = hdr[4] or 256
        n = len(data)
        if le > n or (le < n and not getting):
            self._mismatched = bytes(hdr[:4])  # the re-issue is served, le_mismatch or not
            self._status(conn, 0x6C00 | (n & 0xFF), ins=ins)
            return
        if self.le_mismatch and self._mismatched != hdr[:4]:
            self._mismatched = bytes(hdr[:4])
            self._status(conn, 0x6C00 | (n & 0xFF), ins=ins)
            return
        self._mismatched = None
        send, rest = data[:le], data[le:]
        if getting:
            self._pending = (rest, sw) if rest else None
            if rest:
                sw = 0x6100 | (len(rest) & 0xFF)
        i = 0
        if not (self.truncate and (self.truncate_ins is None or ins in self.truncate_ins)):
            while i < len(send) and self._one_at_a_time():
                self._procedure(conn, ins ^ 0xFF)
                self._send(conn, send[i:i + 1])
                i += 1
        if i < len(send):
            self._procedure(conn, ins)
            self._status(conn, sw, send[i:], ins=ins)
        else:
            self._status(conn, sw, ins=ins)

    def _incoming(self, conn, ins, n):
        """Case 3: ACK (all the rest) or ~INS (one byte) until P3 bytes have come."""
        body = bytearray()
        while len(body) < n:
            if self._one_at_a_time():
                self._procedure(conn, ins ^ 0xFF)
                body.extend(self._recv(conn, 1))
            else:
                self._procedure(conn, ins)
                body.extend(self._recv(conn, n - len(body)))
        return bytes(body)
