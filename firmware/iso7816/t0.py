# ISO 7816-3 T=0: one APDU in, (data, sw) out, over a slot's byte read / write.
# Every wait is bounded by the work waiting time, and a whole exchange by busy_ms, so a
# card that only sends NULL bytes cannot hang the pad. docs/protocol.md section 4a.
from micropython import const
import time

from errors import ProtocolError, Timeout
from iso7816 import apdu as _apdu

NULL = const(0x60)
MAX_DATA = const(256)  # one answer, GET RESPONSE rounds included
_GET_RESPONSE = const(0xC0)


class T0:
    """T=0 transport over slot. wwt_ms: the work waiting time (Atr.wwt_ms(), scaled by
    the caller). busy_ms: bound on one transmit() however the card stalls (default
    30 WWT); max_nulls: bound on NULL bytes per transmit(); max_get_response: bound on
    61xx rounds; gr_cla: CLA of GET RESPONSE (None: the command's); clock: ms ticks."""

    def __init__(self, slot, wwt_ms, busy_ms=None, max_nulls=1000, max_get_response=16,
                 gr_cla=None, clock=None):
        wwt_ms = int(wwt_ms)
        if wwt_ms <= 0:
            raise ValueError("work waiting time must be positive, not %r" % wwt_ms)
        self.slot = slot
        self.wwt_ms = wwt_ms
        self.busy_ms = int(busy_ms) if busy_ms else 30 * wwt_ms
        self.max_nulls = max_nulls
        self.max_get_response = max_get_response
        self.gr_cla = gr_cla
        self._clock = clock or time.ticks_ms
        self._buf = bytearray(MAX_DATA + 2)  # the answer's data (the SW is kept as an int)
        self._mv = memoryview(self._buf)
        self._hdr = bytearray(5)
        self._one = bytearray(1)
        self._n = 0
        self._start = 0
        self._nulls = 0
        self.rounds = 0  # GET RESPONSE rounds of the last transmit()

    def transmit(self, apdu):
        """Send one short APDU (cases 1-4, case 4 as case 3 then GET RESPONSE); returns
        (data, sw) with the data of every 61xx round. Timeout, CardRemoved, ProtocolError;
        ValueError for a malformed APDU."""
        case, nc, ne = _apdu.parse(apdu)
        self._start = self._clock()
        self._nulls = 0
        self._n = 0
        self.rounds = 0
        hdr = self._hdr
        for i in range(4):
            hdr[i] = apdu[i]
        if case >= 3:
            hdr[4] = nc
            sw = self._command(apdu, nc, 0)
        else:
            hdr[4] = ne & 0xFF  # case 1: P3 = 00, nothing to receive
            sw = self._command(None, 0, ne)
            if case == 2:
                sw = self._again(sw)
        cla = apdu[0] if self.gr_cla is None else self.gr_cla
        while sw >> 8 == 0x61:
            if self.rounds >= self.max_get_response:
                raise ProtocolError("card still has data (%04X) after %d GET RESPONSE rounds"
                                    % (sw, self.rounds))
            self.rounds += 1
            xx = (sw & 0xFF) or 256
            if self._n + xx > MAX_DATA:
                raise ProtocolError("answer longer than %d bytes" % MAX_DATA)
            hdr[0] = cla
            hdr[1] = _GET_RESPONSE
            hdr[2] = 0
            hdr[3] = 0
            hdr[4] = xx & 0xFF
            sw = self._again(self._command(None, 0, xx))
        return bytes(self._mv[:self._n]), sw

    def _again(self, sw):
        # 6Cxx: wrong Le; send the same header once more with P3 = xx.
        if sw >> 8 != 0x6C:
            return sw
        self._hdr[4] = sw & 0xFF
        sw = self._command(None, 0, (sw & 0xFF) or 256)
        if sw >> 8 == 0x6C:
            raise ProtocolError("card asked twice for another Le (%04X)" % sw)
        return sw

    def _command(self, apdu, nc, ne):
        # One header and its procedure bytes: send nc data bytes or receive ne.
        # Returns the status word; data received go to the buffer after self._n.
        slot = self.slot
        mark = self._n
        ins = self._hdr[1]
        slot.write(self._hdr)
        done = 0
        while True:
            pb = self._get()
            if pb == NULL:
                self._null()
            elif pb == ins:  # ACK: the rest in one go
                if done < nc:
                    slot.write(memoryview(apdu)[5 + done:5 + nc])
                    done = nc
                elif done < ne:
                    self._recv(ne - done)
                    done = ne
                else:
                    self._null()  # nothing left to move: only another wait
            elif pb == ins ^ 0xFF:  # ~ACK: one byte, then a procedure byte again
                if done < nc:
                    self._one[0] = apdu[5 + done]
                    slot.write(self._one)
                elif done < ne:
                    self._recv(1)
                else:
                    raise ProtocolError("card asked for byte %d of %d (INS %02X)"
                                        % (done + 1, nc or ne, ins))
                done += 1
            elif _apdu.valid_sw1(pb):
                sw = pb << 8 | self._get()
                if sw >> 8 == 0x6C:
                    self._n = mark  # the re-issued command answers afresh
                return sw
            else:
                raise ProtocolError("procedure byte %02X after INS %02X" % (pb, ins))

    def _null(self):
        self._nulls += 1
        if self._nulls > self.max_nulls:
            raise Timeout("card sent more than %d NULL (or idle ACK) bytes" % self.max_nulls)

    def _recv(self, count):
        n = self._n
        if n + count > MAX_DATA:
            raise ProtocolError("answer longer than %d bytes" % MAX_DATA)
        buf = self._buf
        for i in range(count):
            buf[n + i] = self._get()
            self._n = n + i + 1

    def _get(self):
        # One byte within the WWT and within what is left of busy_ms.
        left = self.busy_ms - time.ticks_diff(self._clock(), self._start)
        if left <= 0:
            raise Timeout("card busy for more than %d ms" % self.busy_ms)
        wait = self.wwt_ms
        if left < wait:
            try:
                return self.slot.read(left)
            except Timeout:
                raise Timeout("card busy for more than %d ms" % self.busy_ms)
        return self.slot.read(wait)
