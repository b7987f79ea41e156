# The whole pad (firmware/main.py on boards/esp32_pinpad) under the unix port, its devices
# the fake models of world.py wired to the simulated world of padsim.sim (TEST MATERIAL):
#   PAD_CARD, PAD_PSAM  host:port of the slot servers (the virtual cards' T=0 streams)
#   PAD_UI              host:port of the keypad server: its key bytes become key presses
#   PAD_FLASH           the flash image (the journal at blocks 128-295, as unix_sim's)
#   PAD_CONFIG          the config.json the board reads (on a pad: /config.json on the vfs)
#   PAD_WDT_MS          the watchdog's timeout (a short one: tests wait for it)
#   PAD_STALL_ON        hex[:n]: the card UART hangs for good at the n-th (default 1st)
#                       write of these bytes (a command header)
#   PAD_NO_DISPLAY=1    nothing answers at the display's I2C address
#   PAD_STUCK           keys held down from power-up
#   PAD_TRACE=1         the board's trace hook writes the app's TRACE lines to stderr
# Each panel frame is counted; machine.reset() exits with 75, the watchdog kills (-9).
import os
import sys

import pins
from machine import world
from world import KeyMatrix, Ssd1306Panel, Tda8035

pins.CONFIG_PATH = os.getenv("PAD_CONFIG") or "config.json"
if os.getenv("PAD_WDT_MS"):
    pins.WDT_MS = int(os.getenv("PAD_WDT_MS"))
stall = os.getenv("PAD_STALL_ON")
if stall:
    h, _, n = stall.partition(":")
    stall = [bytes.fromhex(h), int(n or 1)]
Tda8035(pins.CARD_UART, pins.CARD_CLK, pins.CARD_RST, pins.CARD_CMDVCC, pins.CARD_OFF,
        os.getenv("PAD_CARD"), stall)
Tda8035(pins.PSAM_UART, pins.PSAM_CLK, pins.PSAM_RST, pins.PSAM_CMDVCC, None,
        os.getenv("PAD_PSAM"))
keys = KeyMatrix(pins.KEY_ROWS, pins.KEY_COLS, pins.KEYMAP, os.getenv("PAD_UI"))
for k in os.getenv("PAD_STUCK") or "":
    keys.stick(k)  # held down from power-up
world.on_pwm = lambda p, d: d and p.pin.id == pins.BUZZER and sys.stderr.write("BEEP\n")
if os.getenv("PAD_NO_DISPLAY") != "1":
    Ssd1306Panel(pins.DISPLAY_ADDR)

if os.getenv("PAD_TRACE") == "1":
    import board

    _init = board.Board.__init__

    def _traced(self):
        _init(self)
        self.trace = lambda line: sys.stderr.write("TRACE %s\n" % line)

    board.Board.__init__ = _traced

import main  # noqa: E402,F401  (it runs the pad)
