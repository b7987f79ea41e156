# The display's text: a message (two lines, firmware/messages.py) laid out in rows of
# Unifont glyphs (8 x 16 Latin, 16 x 16 CJK) read one at a time from font.bin (made by
# host_tools/padsim/fontgen.py), for the panel drivers: ssd1306.py (128 x 64, I2C) and
# st7789.py (240 x 240, SPI, glyphs drawn twice their size); the board loads the one
# pins.DISPLAY names. Each line wraps (Latin at spaces, CJK anywhere);
# tests/fw/esp32/test_display.py checks every message of both languages fits each panel.
#
# A panel that does not answer never stops the pad: its draw() returns the OSError (the
# board reports it once and retries now and then), and the pad runs on with its buzzer.
import struct

_DIR = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
FONT = _DIR + "/font.bin"


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


def render(font, l1, l2, cols, rows, glyph_at):
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
                glyph_at(x, r * 16, w)
                x += w
