# boards/esp32_pinpad/board.py built on the fakes: the interface the app uses, the journal
# partition, the watchdog, service mode; and the RAM the board costs (printed, held to a
# budget): its modules, drivers and buffers, the fakes' own cost left out.
import gc

import mptest
from mptest import eq, true

import pins as P
from machine import world
from world import KeyMatrix, Ssd1306Panel, Tda8035

BOARD_BUDGET = 24000  # bytes of heap (unix port, 64-bit), measured 23,680: the board's
# modules as .mpy in RAM (board, pins, keypad, display, ssd1306, buzzer, iso7816uart: about
# 15 KB of it, with a new qstr pool of 4.5 KB whose fair share is about 2.3 KB), the SSD1306
# frame buffer (1 KB), the drivers' state, and the fake Pin / PWM / UART / I2C / WDT /
# Partition objects they make. About 14 KB more than the unix board: on a 64 KB heap the
# pad would not fit with the board's code in RAM; an ESP32 without PSRAM gives MicroPython
# about 100 KB, and frozen into the firmware image the code costs no heap at all


def models():
    Tda8035(P.CARD_UART, P.CARD_CLK, P.CARD_RST, P.CARD_CMDVCC, P.CARD_OFF, None)
    Tda8035(P.PSAM_UART, P.PSAM_CLK, P.PSAM_RST, P.PSAM_CMDVCC, None, None)
    KeyMatrix(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP)
    Ssd1306Panel(P.DISPLAY_ADDR)


def test_board_interface_and_ram():
    import errors  # noqa: F401  (the firmware's, loaded before the board on a pad)
    import json  # noqa: F401  (config's, which the board loads and drops)
    import esp32  # noqa: F401  (the fake's code: C on a pad, no heap)
    import framebuf  # noqa: F401
    import micropython
    models()
    P.CONFIG_PATH = "/nonexistent/config.json"
    P.WDT_MS = 60000
    micropython.qstr_info()
    gc.collect()
    a = gc.mem_alloc()
    import board
    b = board.Board()
    gc.collect()
    used = gc.mem_alloc() - a
    micropython.qstr_info()  # (the qstr pools before and after: the pool's share)
    # the fakes' objects made by the board (Pins, PWMs, UARTs, I2C, WDT, Partition) are
    # counted too: each about the size of the real one's Python object on the ESP32
    print("board: %d bytes of heap resident after Board()" % used)
    true(used <= BOARD_BUDGET, "board %d bytes" % used)
    for attr in ("card", "psam", "ui", "host", "journal_dev", "cfg", "clock"):
        true(hasattr(b, attr), attr)
    eq(b.cfg_problem, "no config")  # defaults, never a refusal to boot
    eq(b.journal_dev.ioctl(4, 0), 168)
    eq(b.journal_dev.ioctl(5, 0), 4096)
    true(b.now() is None or b.now() > 1600000000, "now")
    b.ui.show("Please insert card", "Social security card")
    eq(world.i2c[P.DISPLAY_ADDR].frames, 1)
    b.ui.show("Please insert card", "Social security card")
    eq(world.i2c[P.DISPLAY_ADDR].frames, 1)  # the same screen is not sent again
    eq(b.faults, [])


def test_reset_keeps_its_bytes_in_rtc_memory_for_the_next_boot_only():
    # app.py's Pad._reset: board.reset(b"L" + counts) restarts into the link-first boot;
    # the next boot reads them with rtc(), once (a later watchdog reset boots normally)
    import board
    import machine
    models()
    P.CONFIG_PATH = "/nonexistent/config.json"
    P.WDT_MS = 60000
    b = board.Board()
    eq(b.rtc(), b"")  # a power-up: nothing kept
    try:
        b.reset(b"L\x00\x02\x00\x01")
        status = None
    except SystemExit as e:  # the fake machine.reset(): exit 75, as unix_sim's
        status = e.args[0] if e.args else 0
    eq(status, 75)
    eq(world.pins[P.CARD_CMDVCC].value(), 1)  # the card's power off (CMDVCC high)
    b = board.Board()
    eq(b.rtc(), b"L\x00\x02\x00\x01")
    eq(b.rtc(), b"")  # read once
    eq(machine.RTC().memory(), b"")


def test_service_strap_low_is_service_mode():
    # service.py decides (boot.py and the root main.py ask it; in service mode the board
    # is never built: no watchdog); the board itself no longer reads the strap (GPIO0)
    world.inputs[0] = lambda: 0
    import service
    service.STRAP_MS = 20
    service._on = None
    ok = service.active()
    service.clear()
    world.inputs.pop(0)
    service._on = None
    true(ok, "service mode")
    true(not service.active(), "normal mode with the strap released")


mptest.main(globals())
