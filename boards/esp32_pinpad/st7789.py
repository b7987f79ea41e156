# ST7789 240 x 240 on SPI (CS tied low): glyphs drawn at twice their size straight into
# the panel's RAM, one glyph row at a time: no frame buffer.
import struct

from micropython import const

from display import Font, render

_H = const(16)  # glyph height


class St7789:
    """ST7789 240 x 240 on SPI (CS tied low), glyphs drawn at twice their size straight
    to the panel's RAM, 16 pixels (one glyph row, 64 bytes) per write: no frame buffer."""

    width = 240
    height = 240

    def __init__(self, spi, dc):
        self.spi = spi
        self.dc = dc
        self.font = Font()
        self.row = bytearray(64)  # one glyph row at scale 2: up to 32 pixels, RGB565
        self.cmd = bytearray(1)
        self.win = bytearray(4)
        self.ok = False

    def _c(self, c, data=None):
        self.dc.value(0)
        self.cmd[0] = c
        self.spi.write(self.cmd)
        if data is not None:
            self.dc.value(1)
            self.spi.write(data)

    def init(self):
        """Software reset, out of sleep, 16-bit colour, inverted (IPS), display on."""
        import time
        self.ok = False
        self._c(0x01)
        time.sleep_ms(150)
        self._c(0x11)
        time.sleep_ms(10)
        self._c(0x3A, b"\x55")
        self._c(0x36, b"\x00")
        self._c(0x21)
        self._c(0x29)
        self.ok = True

    def _window(self, x, y, w, h):
        b = self.win
        struct.pack_into(">HH", b, 0, x, x + w - 1)
        self._c(0x2A, b)
        struct.pack_into(">HH", b, 0, y, y + h - 1)
        self._c(0x2B, b)
        self._c(0x2C)
        self.dc.value(1)

    def _glyph(self, x, y, w):
        # each pixel twice across, each row twice down: a row of 2w pixels, sent twice
        g, row = self.font.glyph, self.row
        self._window(2 * x, 2 * y, 2 * w, 2 * _H)
        bpr = w >> 3
        line = memoryview(row)[:4 * w]
        for r in range(_H):
            for i in range(w):
                v = 0xFF if g[r * bpr + (i >> 3)] & (0x80 >> (i & 7)) else 0
                j = 4 * i
                row[j] = row[j + 1] = row[j + 2] = row[j + 3] = v
            self.spi.write(line)
            self.spi.write(line)

    def draw(self, l1, l2):
        """Shows the message; None, or the OSError of a panel that did not answer."""
        try:
            if not self.ok:
                self.init()
            self._window(0, 0, self.width, self.height)
            z = self.row
            for i in range(len(z)):
                z[i] = 0
            for _ in range(self.width * self.height * 2 // len(z)):
                self.spi.write(z)
            render(self.font, l1, l2, self.width // 16, self.height // (2 * _H),
                    self._glyph)
        except OSError as e:
            self.ok = False
            return e
        return None
