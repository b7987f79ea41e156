# ISO 7816-3 T=0: one short APDU in, (data, sw) out, over a slot's byte read / write.
# Every byte must come within the work waiting time and a whole transmit() within
# busy_ms (30 WWT, never more than the pad's cap, whatever WWT the ATR asks for) and
# before the caller's session deadline, with at most max_nulls NULL bytes, so a card
# that only sends NULLs, however slowly, cannot hang the pad. docs/protocol.md section
# 4a. Its code lives in RAM: one class, two methods, no tables (status word names are
# in the docs).
from micropython import const
import time

from errors import Timeout, fault

_NULL = const(0x60)
_MAX = const(256)  # data bytes of one answer, GET RESPONSE rounds included
_BAD_ANSWER = const(6)  # errors.py: a malformed answer (a protocol fault)


class T0:
    """T=0 transport over slot; wwt_ms: the work waiting time (Atr.wwt_ms(), scaled by
    the caller); cap_ms: the pad's cap on one command. Bounds, as attributes: busy_ms
    on one transmit() (30 WWT, at most cap_ms), until (None, or a clock tick no
    transmit() may wait past: the caller's session deadline), max_nulls NULL (or idle
    ACK) bytes per transmit(), max_get_response 61xx rounds; clock is the ms tick
    source (tests set a simulated one)."""

    until = None  # a class attribute: set on the card's transport only (RAM)
    max_nulls = 1000  # class attributes too: an instance's own only where a test sets
    max_get_response = 16  # one (each instance attribute grows its dict: RAM)

    def __init__(self, slot, wwt_ms, cap_ms=30000, size=_MAX):
        wwt_ms = int(wwt_ms)
        if wwt_ms <= 0:
            raise ValueError("WWT %d ms" % wwt_ms)
        self.slot = slot
        self.wwt_ms = wwt_ms
        self.busy_ms = min(30 * wwt_ms, cap_ms)
        self.clock = time.ticks_ms
        self._buf = memoryview(bytearray(size))  # the answer's data, all rounds (size:
        # a PSAM's answers are short, and its transport lives beside the card's)
        self._hdr = bytearray(5)  # the command header, P3 included
        self._one = bytearray(1)  # a data byte sent after ~INS

    def transmit(self, apdu):
        """Send one short APDU (case 4 as case 3, then GET RESPONSE); returns (data, sw)
        with the data of every 61xx round. Timeout, CardRemoved or a protocol fault (code 6) from
        the card; ValueError for a malformed APDU, before anything is sent."""
        n = len(apdu)
        nc = ne = 0  # bytes to send (Lc), to receive (Le, 256 for 00)
        if n == 5:
            ne = apdu[4] or 256
        elif n > 5:
            nc = apdu[4]  # case 3, or 4 with Le last: not sent, GET RESPONSE brings it
        if n < 4 or n > 5 and not (nc and nc + 5 <= n <= nc + 6):
            raise ValueError("APDU %d bytes: not a short command" % n)
        if apdu[1] >> 4 in (6, 9):
            raise ValueError("INS %02X is reserved (6X, 9X)" % apdu[1])
        slot = self.slot
        buf = self._buf
        hdr = self._hdr
        for i in range(4):
            hdr[i] = apdu[i]
        hdr[4] = (nc or ne) & 0xFF  # P3: Lc, Le (256 as 00), or 00 for case 1
        start = self.clock()
        end = self.busy_ms  # the deadline, in ms after start: busy_ms, or until if sooner
        if self.until is not None:
            end = max(0, min(end, time.ticks_diff(self.until, start)))
        got = 0  # answer bytes in buf
        nulls = 0
        rounds = 0  # GET RESPONSE commands sent
        wrong_le = ne  # 6Cxx: non-zero re-sends the header with P3 = xx, <0 did already
        while True:  # one command: header, procedure bytes, data, SW1 SW2
            if got + ne > len(self._buf):
                raise fault(_BAD_ANSWER, "answer longer than %d bytes" % len(self._buf))
            slot.write(hdr)
            ins = hdr[1]
            todo = nc or ne
            done = 0  # data bytes moved
            want = 0  # data bytes the card sends right now
            sw = 0  # SW1 once it came, then the status word
            while not sw >> 8:
                # one byte within the WWT and before the deadline
                left = end - time.ticks_diff(self.clock(), start)
                w = self.wwt_ms
                try:
                    if left <= 0:
                        raise Timeout
                    b = slot.read(left if left < w else w)
                except Timeout:
                    if left >= w:
                        raise
                    raise Timeout("busy > %d ms" % end)
                if want:
                    buf[got] = b
                    got += 1
                    want -= 1
                elif sw:
                    sw = sw << 8 | b
                elif b == _NULL or b == ins and done == todo:  # a wait, nothing to move
                    nulls += 1
                    if nulls > self.max_nulls:
                        raise Timeout("> %d NULL bytes"
                                      % self.max_nulls)
                elif b == ins or b == ins ^ 0xFF:  # ACK: all the rest; ~ACK: one byte
                    if done == todo:
                        raise fault(_BAD_ANSWER, "card asked for byte %d of %d (INS %02X)"
                                    % (done + 1, todo, ins))
                    step = todo - done if b == ins else 1
                    if not nc:
                        want = step
                    elif step == 1:  # the byte may be the PIN block's: wiped once sent
                        one = self._one
                        one[0] = apdu[5 + done]
                        try:
                            slot.write(one)
                        finally:
                            one[0] = 0
                    else:
                        slot.write(memoryview(apdu)[5 + done:5 + nc])
                    done += step
                elif 0x61 <= b <= 0x6F or 0x90 <= b <= 0x9F:
                    sw = b
                else:
                    raise fault(_BAD_ANSWER, "procedure byte %02X after INS %02X" % (b, ins))
            xx = sw & 0xFF
            if sw >> 8 == 0x6C and wrong_le:  # case 2 or GET RESPONSE: P3 = xx, once
                if wrong_le < 0:
                    raise fault(_BAD_ANSWER, "Le asked twice (%04X)" % sw)
                wrong_le = -1
                got -= done  # this command's data are void (nc is 0 here)
                hdr[4] = xx
                ne = xx or 256
                continue
            if sw >> 8 != 0x61:
                return bytes(buf[:got]), sw
            if rounds >= self.max_get_response:
                raise fault(_BAD_ANSWER, "data left (%04X) after %d GET RESPONSE"
                            % (sw, rounds))
            rounds += 1
            hdr[0] = apdu[0]  # GET RESPONSE with the command's CLA
            hdr[1] = 0xC0
            hdr[2] = hdr[3] = 0
            hdr[4] = xx
            nc = 0
            ne = xx or 256
            wrong_le = 1
