# An ISO 7816 contact slot through a TDA8035-class interface chip, with the board-free
# interface of boards/unix_sim/board.py's SocketSlot (activate, deactivate, read, write,
# present): the firmware's ATR parser and T=0 layer run on it unchanged.
#
# - Clock: an LEDC PWM pin into the chip's CLKIN (pins.CLK_HZ, 3.5712 MHz); the UART's
#   rate is the clock / 372 (F 372, D 1: the default rate, 9600 baud at that clock), read
#   back from the PWM, so an LEDC that cannot make the clock exactly still gets the rate
#   the card sees.
# - I/O: a UART at that rate, 8 data bits, even parity, 2 stop bits: a character takes
#   12 ETU, the minimum ISO 7816-3 character time (11 ETU and 1 ETU of guard time). The
#   chip's I/OUC is one open-drain line that the UART's TX and RX both sit on, so every
#   byte sent comes back: write() reads the echo back and drops it (a wrong or missing
#   echo: the line is held by a card that talks over the pad, or stuck: an error).
# - RST: RSTIN; power: CMDVCCN (low: the chip runs the activation, VCC then I/O then CLK;
#   high: the deactivation); card detect: the chip's OFFN (low: no card, or a supply
#   fault that made the chip deactivate the card), an interrupt that marks the card
#   pulled: the exchange in progress ends in CardRemoved at its next byte.
# - TC1 (extra guard time N, from the ATR: atr.read calls guard()): the pad sends one
#   character at a time, waits for its echo (the character is on the line) and then N
#   ETU more (at the rate in force: R = F/D, no T=15 here); N 255 (or 0, or no TC1)
#   means the minimum, the UART's 12-ETU character (ISO 7816-3: 12 ETU for T=0 and PPS).
# - The rate (set_rate: after a PPS, or a specific mode's TA1): the UART at clock * D / F,
#   refused above max_baud (the TDA8035's I/O line and the UART's divider: a board
#   constant); each activation starts again at the default 372 / 1.
# - Every byte waited for feeds the watchdog: the T=0 layer bounds each wait.
import time

from machine import PWM, UART, Pin
from micropython import const

from errors import CardRemoved, NoCard, Timeout, fault

_ATR_MS = const(60)  # first ATR byte: 40,000 clocks (11 ms at 3.57 MHz), with margin
_VCC_MS = const(2)  # CMDVCCN low to RSTIN high: the chip's activation and 400 clocks


class UartSlot:
    max_baud = 115200  # the fastest rate set_rate makes (an instance may say less)

    def __init__(self, name, uart_id, tx, rx, clk, rst, cmdvcc, off=None, clk_hz=3571200,
                 wdt=None):
        self.name = name
        self._rst = Pin(rst, Pin.OUT, value=0)
        self._vcc = Pin(cmdvcc, Pin.OUT, value=1)  # CMDVCCN high: deactivated
        self._clk = PWM(Pin(clk), freq=clk_hz, duty_u16=0)
        self.baud = (self._clk.freq() + 186) // 372  # the rate the card sees, F 372 D 1
        self._uart = UART(uart_id, baudrate=self.baud, bits=8, parity=0, stop=2, tx=tx, rx=rx,
                          rxbuf=512, timeout=0)
        self._off = None
        if off is not None:
            self._off = Pin(off, Pin.IN)
            self._off.irq(self._pulled, Pin.IRQ_FALLING)
        self._wdt = wdt
        self._b = bytearray(1)
        self.on = False
        self.gone = False  # pulled (or a supply fault) since the activation
        self._gt = 0  # extra guard time (TC1), ETU

    def _pulled(self, pin):  # OFFN fell: the chip has deactivated the card
        self.gone = True

    def _card_in(self):
        return self._off is None or self._off.value() == 1

    def activate(self):
        """Power on and cold reset; NoCard when no card or nothing answers the reset."""
        self.deactivate()
        if not self._card_in():
            raise NoCard(self.name)
        self.gone = False
        self._gt = 0
        self.set_rate(372, 1)  # every activation starts at the default rate
        self._clk.duty_u16(32768)
        self._vcc.value(0)
        time.sleep_ms(_VCC_MS)
        self._drain()
        self.on = True
        self._rst.value(1)
        try:
            self._wait(_ATR_MS)
        except Exception:
            self.deactivate()
            raise NoCard(self.name)

    def deactivate(self):
        self._rst.value(0)
        self._vcc.value(1)
        self._clk.duty_u16(0)
        self.on = False
        self._drain()

    def _drain(self):
        u = self._uart
        while u.any():
            u.read()

    def _wait(self, timeout_ms):
        u, start = self._uart, time.ticks_ms()
        while not u.any():
            if self.gone or not self.on:
                self.deactivate()
                raise CardRemoved(self.name + " removed")
            if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
                raise Timeout("%s silent %d ms" % (self.name, timeout_ms))
            if self._wdt:
                self._wdt.feed()
            time.sleep_ms(1)

    def read(self, timeout_ms):
        self._wait(timeout_ms)
        self._uart.readinto(self._b)
        return self._b[0]

    def guard(self, n):
        """TC1 of the card's ATR: n extra ETU between the characters the pad sends (255:
        none, the minimum)."""
        self._gt = 0 if n >= 255 else n

    def set_rate(self, f, d, dry=False):
        """ISO 7816-3's F and D (after a PPS, or a specific mode's TA1): the UART at
        clock * D / F. False, nothing changed, when that is above max_baud; dry: only
        asked."""
        baud = (self._clk.freq() * d + f // 2) // f
        if baud > self.max_baud:
            return False
        if not dry:
            self.baud = baud
            self._uart.init(baudrate=baud)
        return True

    def write(self, buf):
        if self.gone or not self.on:
            self.deactivate()
            raise CardRemoved(self.name + " removed")
        gt = self._gt * 1000000 // self.baud  # TC1's N ETU at the rate in force, us
        if not gt:
            self._uart.write(buf)
        for i in range(len(buf)):  # the echo of each byte, one character time each
            if gt:
                self._uart.write(memoryview(buf)[i:i + 1])
            try:
                b = self.read(20)
            except Timeout:
                raise Timeout("%s: no echo on I/O" % self.name)
            if b != buf[i]:
                raise fault(6, "%s: I/O echo %02X for %02X" % (self.name, b, buf[i]))
            if gt:
                time.sleep_us(gt)  # the extra guard time before the next character

    def present(self):
        """Still in the slot? Asked between exchanges: what is left of an answer is
        dropped first."""
        self._drain()
        return self.on and not self.gone and self._card_in()
