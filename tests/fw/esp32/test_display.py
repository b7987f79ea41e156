# boards/esp32_pinpad/display.py: every message of both languages fits each panel (from
# the panel's own size), the fake SSD1306 and ST7789 get the frames (written as PBM files
# for tests/test_esp32_board.py to turn into PNGs), a panel that does not answer.
import os

import mptest
from mptest import eq, true

import display as D
from ssd1306 import Ssd1306
from st7789 import St7789
import messages as M
import jnames  # noqa: F401 (the kinds' and messages' names)
from machine import I2C, SPI, Pin, world
from world import Ssd1306Panel, St7789Panel

OUT = os.getenv("PAD_FRAMES") or "/tmp"
# the longest arguments a message gets: six stars (PIN entry), two digits (tries left)
ARGS = {M.ENTER_PIN: "******", M.PIN_LENGTH: "******", M.PIN_WRONG: "15",
        23: "******", 24: "******", 25: "******"}  # change.py's old, new, again


def messages(lang):
    tab = M.table(lang)
    n = 0
    with open(tab, encoding="utf-8") as f:
        for _ in f:
            n += 1
    return [M.lines(tab, i, ARGS.get(i, "")) for i in range(n)]


def test_every_message_fits_both_panels_in_both_languages():
    for panel in (Ssd1306, St7789):
        scale = 1 if panel is Ssd1306 else 2
        cols, rows = panel.width // (8 * scale), panel.height // (16 * scale)
        for lang in ("en", "zh"):
            ms = messages(lang)
            eq(len(ms), 35)
            for l1, l2 in ms:
                out = D.layout(l1, l2, cols, rows)
                true(out is not None, "%s %s: %r / %r does not fit %d x %d"
                     % (panel.__name__, lang, l1, l2, cols, rows))
                for r in out:
                    true(sum(D.cells(c) for c in r) <= cols, "row %r" % r)


def test_wrap_breaks_latin_at_spaces_and_cjk_anywhere():
    out = []
    D.wrap("Unlock at your dept window with ID", 16, out)
    eq(out, ["Unlock at your", "dept window with", "ID"])
    out = []
    D.wrap("请本人持有效身份证件到发卡地窗口解锁", 16, out)
    eq(out, ["请本人持有效身份", "证件到发卡地窗口", "解锁"])
    eq(D.layout("a", "b" * 40, 16, 3), None)  # too long: layout says so


def test_font_holds_every_character_of_the_messages():
    f = D.Font()
    with open(f.path, "rb") as fh:
        for lang in ("en", "zh"):
            for l1, l2 in messages(lang):
                for ch in l1 + l2:
                    true(f.load(fh, ord(ch)) in (8, 16), "no glyph for %r" % ch)
        eq(f.load(fh, 0x4E00), 0)  # not a character the pad shows: not in the font


def pbm(path, w, h, pixel):
    with open(path, "wb") as f:
        f.write(b"P4\n%d %d\n" % (w, h))
        row = bytearray((w + 7) // 8)
        for y in range(h):
            for i in range(len(row)):
                row[i] = 0
            for x in range(w):
                if pixel(x, y):
                    row[x >> 3] |= 0x80 >> (x & 7)
            f.write(row)


def test_ssd1306_frames():
    panel = Ssd1306Panel()
    d = Ssd1306(I2C(0), 0x3C)
    for lang, msg in (("en", M.LOCKED), ("zh", M.LOCKED), ("zh", M.ENTER_PIN),
                      ("en", M.NOT_SSC)):
        l1, l2 = M.lines(M.table(lang), msg, ARGS.get(msg, ""))
        eq(d.draw(l1, l2), None)
        true(panel.on, "panel switched on")
        lit = sum(panel.pixel(x, y) for x in range(128) for y in range(64))
        true(lit > 150, "%d pixels lit" % lit)
        pbm("%s/ssd1306-%s-%d.pbm" % (OUT, lang, msg), 128, 64, panel.pixel)
    # the frame is the driver's frame buffer, sent whole
    eq(bytes(panel.ram), bytes(d.buf))


def test_st7789_frame():
    dc = Pin(23, Pin.OUT)
    panel = St7789Panel(23)
    d = St7789(SPI(2), dc)
    l1, l2 = M.lines(M.table("zh"), M.LOCKED)
    eq(d.draw(l1, l2), None)
    true(panel.on, "panel on")
    pbm("%s/st7789-zh-%d.pbm" % (OUT, M.LOCKED), 240, 240, panel.pixel)
    true(sum(panel.px) > 1000, "pixels lit")


def test_display_not_answering():
    world.i2c.clear()  # nothing at 0x3C: every transfer NACKed
    d = Ssd1306(I2C(0), 0x3C)
    e = d.draw("Please insert card", "Social security card")
    true(isinstance(e, OSError) and e.errno == 19, "draw gave %r" % (e,))
    world.i2c_error = 116  # a stuck bus: ETIMEDOUT
    Ssd1306Panel()
    true(d.draw("x", "y").errno == 116, "timeout")
    world.i2c_error = None
    eq(d.draw("x", "y"), None)  # it answers again: initialised again, drawn


mptest.main(globals())
