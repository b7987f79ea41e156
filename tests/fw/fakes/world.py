# Device models around the fake `machine` (tests/fw/fakes/machine.py): what the ESP32
# board's drivers talk to under the unix port. TEST MATERIAL.
#
# - KeyMatrix: the keypad's switches. Keys are pressed by a script (press(key, at_ms,
#   hold_ms)), held down for good (stick(key)), or read from a TCP connection to the
#   simulator's keypad server (padsim.ui_server: each key byte is a press of 60 ms).
# - Ssd1306Panel, St7789Panel: the panels' controllers, decoding the command / data stream
#   into their display RAM; pixel(x, y) for a test to render.
# - Tda8035: a card slot's interface chip and its card: CMDVCCN / RSTIN / OFFN pins, the
#   CLKIN PWM and the UART on I/O. The card is a padsim.slot.SlotServer (the virtual card's
#   T=0 character stream over TCP), connected at each cold reset. Checks the UART's frame
#   (8 bits, even parity, 2 stop bits) and rate (the clock / 372): anything else garbles
#   every byte both ways, as a card would see it. I/O is one line: each byte written is
#   echoed to RX. stall_on: [bytes, n]: the n-th write of these bytes (a command
#   header) hangs the UART for good (a driver hang for the watchdog to catch).
import socket
import time

import machine
from machine import world


class KeyMatrix:
    def __init__(self, rows, cols, keymap, spec=None):
        self.rows, self.cols, self.map = rows, cols, keymap
        self.t0 = time.ticks_ms()
        self.script = []  # [start, end (None until first seen), key, hold ms]
        self._queue = []  # keys from the keypad server not yet pressed
        self.stuck = set()
        self.sock = None
        if spec:
            host, port = spec.rsplit(":", 1)
            s = socket.socket()
            s.connect(socket.getaddrinfo(host, int(port))[0][-1])
            s.setblocking(False)
            self.sock = s
        for c, pin in enumerate(cols):
            world.inputs[pin] = self._col(c)

    def press(self, key, at_ms=0, hold_ms=60):
        """key goes down at_ms from now and stays down hold_ms from the first scan that
        sees it (a finger holds a key until it registers: a busy host's slow scans
        lose no press)."""
        start = time.ticks_add(time.ticks_ms(), at_ms)
        self.script.append([start, None, key, hold_ms])

    def stick(self, key):
        self.stuck.add(key)

    def _pump(self):
        if self.sock is None:
            return
        try:
            d = self.sock.read(16)
        except OSError:
            d = None
        if d:
            for k in d.decode():  # each after the one before has been let go
                self._queue.append(k)
        while self._queue and all(e[1] is not None and time.ticks_diff(time.ticks_ms(), e[1])
                                  > 40 for e in self.script):
            self.press(self._queue.pop(0), 0, 80)

    def down(self, key):
        now = time.ticks_ms()
        down = key in self.stuck
        for e in self.script:
            if e[2] != key or time.ticks_diff(now, e[0]) < 0:
                continue
            if e[1] is None:  # first seen now: held from here
                e[1] = time.ticks_add(now, e[3])
            if time.ticks_diff(e[1], now) > 0:
                down = True
        return down

    def _col(self, c):
        def level():
            self._pump()
            for r, rp in enumerate(self.rows):
                if world.pins[rp]._v == 0 and self.down(self.map[r * len(self.cols) + c]):
                    return 0
            return 1
        return level


class Ssd1306Panel:
    _ARGS = {0x20: 1, 0x21: 2, 0x22: 2, 0x81: 1, 0x8D: 1, 0xA8: 1, 0xD3: 1, 0xD5: 1,
             0xD9: 1, 0xDA: 1, 0xDB: 1}

    def __init__(self, addr=0x3C):
        self.ram = bytearray(1024)
        self.on = False
        self.frames = 0
        self._cmd = []
        self.mode = 2  # page addressing after reset
        self.c0, self.c1, self.p0, self.p1 = 0, 127, 0, 7
        self.col = self.page = 0
        world.i2c[addr] = self

    def write(self, b):
        ctl, body = b[0], b[1:]
        if ctl & 0x40:  # data
            for x in body:
                self.ram[self.page * 128 + self.col] = x
                self.col += 1
                if self.col > self.c1:
                    self.col = self.c0
                    self.page = self.page + 1 if self.page < self.p1 else self.p0
            self.frames += 1
            return
        for x in body:
            self._cmd.append(x)
            need = self._ARGS.get(self._cmd[0], 0)
            if len(self._cmd) > need:
                self._do(self._cmd)
                self._cmd = []

    def _do(self, c):
        op = c[0]
        if op == 0xAF:
            self.on = True
        elif op == 0xAE:
            self.on = False
        elif op == 0x20:
            self.mode = c[1]
        elif op == 0x21:
            self.c0, self.c1 = c[1], c[2]
            self.col = c[1]
        elif op == 0x22:
            self.p0, self.p1 = c[1], c[2]
            self.page = c[1]

    def pixel(self, x, y):
        return self.ram[(y >> 3) * 128 + x] >> (y & 7) & 1


class St7789Panel:
    def __init__(self, dc_pin, w=240, h=240):
        self.dc_pin = dc_pin
        self.w, self.h = w, h
        self.px = bytearray(w * h)
        self.on = False
        self._op = None
        self._args = bytearray()
        self.x0 = self.y0 = 0
        self.x1, self.y1 = w - 1, h - 1
        self._pos = 0
        self._half = None
        world.spi = self

    def write(self, b, dc):
        if not dc:
            for op in b:
                self._op = op
                self._args = bytearray()
                if op == 0x29:
                    self.on = True
                elif op == 0x2C:
                    self._pos = 0
                    self._half = None
            return
        if self._op == 0x2C:
            for x in b:
                if self._half is None:
                    self._half = x
                    continue
                v = self._half << 8 | x
                self._half = None
                ww = self.x1 - self.x0 + 1
                xx, yy = self.x0 + self._pos % ww, self.y0 + self._pos // ww
                if xx < self.w and yy < self.h:
                    self.px[yy * self.w + xx] = 1 if v else 0
                self._pos += 1
            return
        self._args.extend(b)
        if len(self._args) >= 4 and self._op in (0x2A, 0x2B):
            a, e = self._args[0] << 8 | self._args[1], self._args[2] << 8 | self._args[3]
            if self._op == 0x2A:
                self.x0, self.x1 = a, e
            else:
                self.y0, self.y1 = a, e

    def pixel(self, x, y):
        return self.px[y * self.w + x]


class Tda8035:
    def __init__(self, uart_id, clk, rst, cmdvcc, off=None, spec=None, stall_on=None):
        self.spec = spec
        self.clk, self.rst_pin, self.off_pin = clk, rst, off
        self.powered = False
        self.sock = None
        self.rx = bytearray()
        self.uart = None
        self.ok = False
        self.inserted = True  # the slot switch (OFFN high)
        self.stall_on = stall_on
        self.sent = bytearray()  # what the pad sent since the activation (echo excluded)
        self.activations = 0
        self.writes = []  # (ticks_us, bytes) of each UART write
        self.fd = (372, 1)  # the card's F, D
        self.req = None  # a PPS request the pad sent, waiting for the card's answer
        self.resp = bytearray()
        self.rates = []  # every rate a PPS selected
        world.uarts[uart_id] = self
        world.on_pin[cmdvcc] = self._cmdvcc
        world.on_pin[rst] = self._rst
        if off is not None:
            world.inputs[off] = lambda: 1 if self.inserted else 0

    def attach(self, uart):
        self.uart = uart

    def _check(self):
        """The UART's frame, and its rate against the card's (F/D in force: 372/1 after
        the reset, then what a PPS the card echoed selected): within 2 %, else every
        byte is garbled both ways."""
        u, pwm = self.uart, world.pwm.get(self.clk)
        f = pwm.freq() if pwm else 0
        F, D = self.fd
        self.ok = bool(u is not None and u.bits == 8 and u.parity == 0 and u.stop == 2 and f
                       and abs(u.baudrate * F - f * D) * 50 < f * D)

    def _pps(self, got):
        """Follows a PPS: the pad's request (the first bytes it sends, FF ...) and the
        card's echo; the card's rate changes after the echo's last byte."""
        if self.req is None or self.fd != (372, 1):
            return
        self.resp.extend(got)
        r = self.req
        if len(self.resp) >= len(r):
            if bytes(self.resp[:len(r)]) == bytes(r) and r[1] & 0x10:
                F = (372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0)
                D = (0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0)
                self.fd = (F[r[2] >> 4], D[r[2] & 15])
                self.rates.append(self.fd)
            self.req = None

    def _cmdvcc(self, level):
        if level:  # CMDVCCN high: deactivation
            self.powered = False
            self._close()
        else:
            self.powered = self.inserted

    def _rst(self, level):
        pwm = world.pwm.get(self.clk)
        if level and self.powered and pwm and pwm.duty_u16() and self.spec:
            self._close()
            self._check()
            host, port = self.spec.rsplit(":", 1)
            s = socket.socket()
            try:
                s.connect(socket.getaddrinfo(host, int(port))[0][-1])
            except OSError:
                s.close()
                return
            s.setblocking(False)
            self.sock = s
            self.fd = (372, 1)
            self.req = None
            self._check()
            self.sent = bytearray()
            self.activations += 1
        elif not level:
            self._close()

    def _close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.rx = bytearray()

    def pull(self):
        """The card leaves the slot: OFFN falls (its interrupt), the chip deactivates."""
        self.inserted = False
        self.powered = False
        self._close()
        if self.off_pin is not None:
            world.irq(self.off_pin)

    def _pump(self):
        s = self.sock
        if s is None:
            return
        try:
            d = s.read(256)
        except OSError:
            return  # nothing yet
        if d is None:
            return
        if d == b"":  # closed by the world: no card (no ATR), or the card was pulled
            self._close()
            if self.off_pin is not None and self.activations:
                world.irq(self.off_pin)
            return
        self._check()
        self.rx.extend(d if self.ok else bytes(x ^ 0xA5 for x in d))
        self._pps(d)

    def any(self):
        self._pump()
        return len(self.rx)

    def read(self, n):
        self._pump()
        if n < 0:
            n = len(self.rx)
        d = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return d or None

    def write(self, b):
        if self.stall_on is not None and bytes(b) == self.stall_on[0]:
            self.stall_on[1] -= 1
            while not self.stall_on[1]:  # the UART hangs: only the watchdog gets out
                time.sleep_ms(1000)
        self.writes.append((time.ticks_us(), len(b)))
        self.rx.extend(b)  # the echo: TX and RX share the I/O line
        if self.sock is not None and self.powered:
            self.sent.extend(b)
            if self.sent[:1] == b"\xff" and len(self.sent) == 4 and self.req is None:
                self.req, self.resp = bytes(self.sent), bytearray()
            self._check()
            out = b if self.ok else bytes(x ^ 0xA5 for x in b)
            while out:
                try:
                    n = self.sock.write(out)
                except OSError:
                    return
                out = out[n or 0:]


_ = machine  # (imported for world)
