"""boards/esp32_pinpad under the unix port with the fake `machine` / `esp32`
(tests/fw/fakes): the drivers' own tests (tests/fw/esp32/test_*.py), the display's frames
as PNG files, the card slot on the virtual card's T=0 stream, the watchdog, the ESP32
build's import graph. TEST MATERIAL: keys are generated."""
import struct
import zlib

import pytest

import esp32fw
from padctl.mpy import ROOT, build

SCRIPTS = sorted(p.name for p in esp32fw.TESTS.glob("test_*.py")
                 if p.name not in ("test_slot.py",))


def png(pbm_path, png_path, scale=3):
    """A PBM (P4) frame as a PNG, each pixel scale x scale, lit pixels light on dark."""
    data = pbm_path.read_bytes()
    head, _, rest = data.partition(b"\n")
    dims, _, bits = rest.partition(b"\n")
    w, h = map(int, dims.split())
    stride = (w + 7) // 8
    raw = bytearray()
    for y in range(h):
        row = bytearray()
        for x in range(w):
            on = bits[y * stride + (x >> 3)] >> (7 - (x & 7)) & 1
            row += (b"\xff" if on else b"\x10") * scale
        for _ in range(scale):
            raw += b"\x00" + row

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    png_path.write_bytes(b"\x89PNG\r\n\x1a\n"
                         + chunk(b"IHDR", struct.pack(">IIBBBBB", w * scale, h * scale, 8, 0,
                                                      0, 0, 0))
                         + chunk(b"IDAT", zlib.compress(bytes(raw)))
                         + chunk(b"IEND", b""))
    return w, h


@pytest.fixture
def image(tmp_path):
    """A provisioned flash image (the simulator's layout: the journal at blocks 128-295)."""
    from padctl.mpy import BOARD, run_mp
    img = tmp_path / "flash.img"
    r = run_mp(BOARD / "provision.py", [img, '{"pad_id": "0011223344556677"}'], tests=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return img


@pytest.mark.parametrize("name", SCRIPTS)
def test_driver_scripts(name, tmp_path, image):
    r = esp32fw.run(esp32fw.TESTS / name, heap="512k", timeout=300,
                    extra={"PAD_FRAMES": tmp_path, "PAD_FLASH": image})
    assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout + r.stderr
    if name == "test_board.py":  # the figure, for the report
        print([line for line in r.stdout.splitlines() if line.startswith("board:")])


def test_esp32_build_imports_on_the_unix_port_with_the_fakes(image):
    """mpy-cross -march=xtensawin compiled every module (padctl.mpy.build); each one
    imports on the unix port with the fakes (bytecode only: no native code to refuse)."""
    out = build("esp32_pinpad")
    names = sorted(str(p.relative_to(out).with_suffix("")).replace("/", ".")
                   for p in out.rglob("*.mpy") if p.stem != "main")
    assert {"board", "keypad", "display", "ssd1306", "st7789", "iso7816uart", "buzzer",
            "drbg", "app", "iso7816.t0"} <= set(names)
    for p in out.rglob("*.mpy"):
        assert p.read_bytes()[:2] == b"M\x06", p  # MicroPython .mpy version 6
    code = ("import pins, world\n"
            "for n in %r:\n"
            "    __import__(n)\n"
            "print('imported', len(%r))\n" % (names, names))
    r = esp32fw.run("-c", [code], extra={"PAD_FLASH": image}, tests=False)
    assert r.returncode == 0 and "imported %d" % len(names) in r.stdout, r.stdout + r.stderr


WATCHDOG = """
import time, machine
w = machine.WDT(timeout=300)
end = time.ticks_add(time.ticks_ms(), 1000)
while time.ticks_diff(end, time.ticks_ms()) > 0:  # a loop that feeds: alive past 300 ms
    w.feed()
    time.sleep_ms(20)
print("fed loop alive")
while True:  # stalled: nothing feeds it
    pass
"""


def test_watchdog_fires_on_a_stalled_loop():
    r = esp32fw.run("-c", [WATCHDOG], tests=False, timeout=30)
    assert "fed loop alive" in r.stdout, r.stdout + r.stderr
    assert r.returncode == -9 and "watchdog fired" in r.stderr, (r.returncode, r.stderr)


def test_display_frames_as_png(tmp_path):
    """The frames the fake panels got, as PNGs (looked at while writing the driver: the
    Chinese and English messages, wrapped and centred); each frame has lit pixels in
    every text row it should and nothing outside the panel."""
    r = esp32fw.run(esp32fw.TESTS / "test_display.py", ["test_ssd1306_frames",
                                                        "test_st7789_frame"],
                    heap="512k", extra={"PAD_FRAMES": tmp_path})
    assert r.returncode == 0, r.stdout + r.stderr
    frames = sorted(tmp_path.glob("*.pbm"))
    assert len(frames) == 5
    for f in frames:
        w, h = png(f, f.with_suffix(".png"))
        assert (w, h) in ((128, 64), (240, 240))
    out = ROOT / "build" / "esp32_frames"
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp_path.glob("*.png"):
        (out / f.name).write_bytes(f.read_bytes())


@pytest.fixture
def slots(tmp_path):
    from padctl import keys as K
    from padctl.crypto import Suite
    from padsim.slot import SlotServer
    from padsim.vcard import VirtualCard, personalise_card
    from padsim.vpsam import VirtualPsam, personalise_psam
    ks = K.Keystore.generate(tmp_path / "ks.json")
    ident = K.new_identity(Suite.SM4, "110105")
    personalise_card(ks, tmp_path / "card.json", ident)
    personalise_psam(ks, tmp_path / "psam.json", Suite.SM4, "110105", 2)
    with SlotServer(VirtualCard(tmp_path / "card.json"), name="card") as cs, \
            SlotServer(VirtualPsam(tmp_path / "psam.json"), name="psam") as ps, \
            SlotServer(VirtualCard(tmp_path / "card.json", ta1=0x13), name="card") as c13, \
            SlotServer(VirtualCard(tmp_path / "card.json", ta1=0x18), name="card") as c18:
        yield {"PAD_CARD": cs.addr, "PAD_PSAM": ps.addr, "PAD_CARD13": c13.addr,
               "PAD_CARD18": c18.addr, "PAD_CARD_ID": ident.card_id.hex().upper()}


def test_slot_on_the_virtual_cards_t0_stream(slots):
    """tests/fw/esp32/test_slot.py: the slot driver over the fake TDA8035 and UART, the
    card a SlotServer (the virtual card's T=0 character stream)."""
    r = esp32fw.run(esp32fw.TESTS / "test_slot.py", extra=slots, timeout=120)
    assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout + r.stderr
