# SSD1306 128 x 64 on I2C: a 1 KB frame buffer (framebuf), sent whole at each message.
import framebuf
from micropython import const

from display import Font, render

_H = const(16)  # glyph height


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
        render(self.font, l1, l2, self.width // 8, self.height // _H, self._glyph)
        try:
            if not self.ok:
                self.init()
            self._c(0x21, 0, self.width - 1, 0x22, 0, self.height // 8 - 1)
            self.i2c.writevto(self.addr, (b"\x40", self.buf))  # 40: data follows
        except OSError as e:
            self.ok = False
            return e
        return None
