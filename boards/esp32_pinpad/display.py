# The display: a message (two lines of text, firmware/messages.py) laid out in rows of
# Unifont glyphs (8 x 16 Latin, 16 x 16 CJK) read one at a time from font.bin (made by
# host_tools/padctl/fontgen.py), on an SSD1306 (128 x 64, I2C) or an ST7789 (240 x 240,
# SPI, glyphs drawn twice their size). Each line wraps (Latin at spaces, CJK anywhere);
# tests/fw/test_esp32_display.py checks every message of both languages fits each panel.
#
# A panel that does not answer never stops the pad: draw() returns the OSError (the board
# reports it once and retries now and then), and the pad runs on with its buzzer.
import struct

import framebuf
from micropython import const

_DIR = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
FONT = _DIR + "/font.bin"
_H = const(16)  # glyph height


def cells(ch):
    """Width of a character in 8-pixel cells: 2 for CJK (and other wide), 1 else."""
    return 2 if ord(ch) >= 0x1100 else 1


def wrap(s, cols, out):
    """Appends the rows of s (at most cols cells each) to out: Latin text breaks at spaces
    (a word longer than a row is cut), CJK between any two characters."""
    while s:
        w = n = brk = 0
        for ch in s:
            c = cells(ch)
            if w + c > cols:
                if ch == " " or c == 2:
                    brk = n  # the row ends just before a space or a wide character
                break
            if c == 2:
                brk = n  # before a wide character
            w += c
            n += 1
            if ch == " " or c == 2:
                brk = n  # after a space or a wide character
        else:
            brk = n  # all of it fits
        cut = brk or n
        out.append(s[:cut].rstrip())
        s = s[cut:].lstrip()


def layout(l1, l2, cols, rows):
    """The rows of a message: line 1 wrapped, then line 2; None if they need more than
    rows rows (the fit test's question; draw() then shows the first rows)."""
    out = []
    wrap(l1, cols, out)
    wrap(l2, cols, out)
    return out if len(out) <= rows else None


class Font:
    """font.bin, read glyph by glyph (a binary search of its index on flash)."""

    def __init__(self, path=FONT):
        self.path = path
        self.glyph = bytearray(32)  # the last glyph read: 16 rows of 1 or 2 bytes
        self._e = bytearray(5)
        with open(path, "rb") as f:
            hd = f.read(4)
        if hd[:2] != b"PF":
            raise ValueError("font %s" % path)
        self.n = struct.unpack(">H", hd[2:])[0]

    def load(self, f, cp):
        """Reads the glyph of code point cp into self.glyph; its width (8, 16), or 0 if the
        font does not hold it."""
        e, lo, hi = self._e, 0, self.n - 1
        while lo <= hi:
            mid = (lo + hi) >> 1
            f.seek(4 + 5 * mid)
            f.readinto(e)
            c = e[0] << 8 | e[1]
            if c == cp:
                w = e[2]
                f.seek(4 + 5 * self.n + (e[3] << 8 | e[4]))
                f.readinto(memoryview(self.glyph)[:2 * w])
                return w
            if c < cp:
                lo = mid + 1
            else:
                hi = mid - 1
        return 0


def _render(font, l1, l2, cols, rows, glyph_at):
    """Lays the message out and calls glyph_at(x, y, width) for each glyph read into
    font.glyph (x, y in font pixels: the panel scales); rows centred across."""
    out = layout(l1, l2, cols, rows)
    if out is None:
        out = []
        wrap(l1, cols, out)
        wrap(l2, cols, out)
        out = out[:rows]
    with open(font.path, "rb") as f:
        for r, text in enumerate(out):
            x = 4 * (cols - sum(cells(ch) for ch in text))  # centred: half the cells left
            for ch in text:
                w = font.load(f, ord(ch)) or font.load(f, 0x3F)  # "?" for a missing glyph
                glyph_at(x, r * _H, w)
                x += w


class Ssd1306:
    """SSD1306 128 x 64 on I2C: a 1 KB frame buffer, sent whole at each message."""

    width = 128
    height = 64

    def __init__(self, i2c, addr=0x3C):
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(self.width * self.height // 8)
        self.fb = framebuf.FrameBuffer(self.buf, self.width, self.height, framebuf.MONO_VLSB)
        self.cmd = bytearray(2)  # 80 cmd: one command byte (Co = 1, D/C = 0)
        self.cmd[0] = 0x80
        self.font = Font()
        g = self.font.glyph
        self._g = (framebuf.FrameBuffer(g, 8, _H, framebuf.MONO_HLSB),
                   framebuf.FrameBuffer(g, 16, _H, framebuf.MONO_HLSB))
        self.ok = False

    def _c(self, *cmds):
        for c in cmds:
            self.cmd[1] = c
            self.i2c.writeto(self.addr, self.cmd)

    def init(self):
        """The panel's set-up (OSError if it does not answer): display off, multiplex 64,
        offset 0, start line 0, segment remap, COM scan reversed, COM pins, contrast,
        resume from RAM, normal, clock, precharge, VCOMH, charge pump on, horizontal
        addressing, display on."""
        self.ok = False
        self._c(0xAE, 0xA8, 63, 0xD3, 0, 0x40, 0xA1, 0xC8, 0xDA, 0x12, 0x81, 0xCF, 0xA4,
                0xA6, 0xD5, 0x80, 0xD9, 0xF1, 0xDB, 0x30, 0x8D, 0x14, 0x20, 0x00, 0xAF)
        self.ok = True

    def _glyph(self, x, y, w):
        self.fb.blit(self._g[w >> 4], x, y)

    def draw(self, l1, l2):
        """Shows the message; None, or the OSError of a panel that did not answer."""
        self.fb.fill(0)
        _render(self.font, l1, l2, self.width // 8, self.height // _H, self._glyph)
        try:
            if not self.ok:
                self.init()
            self._c(0x21, 0, self.width - 1, 0x22, 0, self.height // 8 - 1)
            self.i2c.writevto(self.addr, (b"\x40", self.buf))  # 40: data follows
        except OSError as e:
            self.ok = False
            return e
        return None


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
            _render(self.font, l1, l2, self.width // 16, self.height // (2 * _H),
                    self._glyph)
        except OSError as e:
            self.ok = False
            return e
        return None
