# The ESP32 pad's board: its peripherals behind the interface of boards/unix_sim/board.py
# (Board with card, psam, ui, host, journal_dev, cfg, now(), rtc(), reset()). The only layer that
# touches `machine`; pin numbers come from pins.py. Drivers: keypad.py, display.py,
# buzzer.py, iso7816uart.py, display.py (with ssd1306.py or st7789.py); the journal is the raw "journal" partition (partitions.csv),
# an esp32.Partition (the block protocol the journal expects).
#
# What fails in a device is kept in `faults` (journal data: device, detail) for the app
# to journal as DEVICE records (docs/protocol.md 8.3), and the pad runs on: a display
# that does not answer leaves the keypad, the buzzer and the card working.
import sys
import time

import machine
import pins as P

NAME = "esp32_pinpad"
_RETRY_MS = 30000  # a failed display is tried again this often (at a message change)


class Ui:
    """Keypad, display and buzzer: show(l1, l2), beep(n), pollable, read_key()."""

    def __init__(self, board, keypad, display, buzzer):
        self.board = board
        self.pollable = keypad
        self.display = display
        self.buzzer = buzzer
        self.lines = None
        self._retry = None  # the display failed: when to try it again (ticks)
        self._stuck = None

    def show(self, l1, l2=""):
        self._stuck_key()
        if (l1, l2) == self.lines:
            return
        self.lines = (l1, l2)
        b = self.board
        b.feed()
        if self._retry is not None and time.ticks_diff(time.ticks_ms(), self._retry) < 0:
            return
        e = self.display.draw(l1, l2)
        if e is None:
            self._retry = None
        else:  # reported once per failure, then tried again now and then
            if self._retry is None:
                b.fault(b"D", e.errno if isinstance(e.errno, int) else 0)
                self.buzzer.beep(2)  # the clerk hears that the screen is out
            self._retry = time.ticks_add(time.ticks_ms(), _RETRY_MS)

    def beep(self, n=1):
        self.buzzer.beep(n)

    def _stuck_key(self):
        s = self.pollable.stuck
        if s is not None and s != self._stuck:  # reported once per key
            self._stuck = s
            self.board.fault(b"K", ord(s))

    def read_key(self):
        k = self.pollable.read_key()
        self._stuck_key()
        return k if k is not None and k in "0123456789CXE#" else None


class Board:
    # (the mode is service.py's decision, at boot: in service mode main.py never builds
    # the board, so no watchdog runs and the REPL keeps Ctrl-C)
    name = NAME
    clock = None

    def __init__(self):
        self.wdt = machine.WDT(timeout=P.WDT_MS)
        self.faults = []  # (device, detail) bytes for DEVICE records, drained by the app
        import esp32
        found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=P.JOURNAL_PARTITION)
        if not found:
            raise OSError("no %s partition" % P.JOURNAL_PARTITION)
        self.journal_dev = found[0]
        import config
        self.cfg, self.cfg_problem = config.load(P.CONFIG_PATH)
        del config
        sys.modules.pop("config", None)
        from iso7816uart import UartSlot
        self.card = UartSlot("card", P.CARD_UART, P.CARD_TX, P.CARD_RX, P.CARD_CLK,
                             P.CARD_RST, P.CARD_CMDVCC, P.CARD_OFF, P.CLK_HZ, self.wdt)
        self.psam = UartSlot("PSAM", P.PSAM_UART, P.PSAM_TX, P.PSAM_RX, P.PSAM_CLK,
                             P.PSAM_RST, P.PSAM_CMDVCC, P.PSAM_OFF, P.CLK_HZ, self.wdt)
        from buzzer import Buzzer
        from keypad import Keypad
        self.ui = Ui(self, Keypad(P.KEY_ROWS, P.KEY_COLS, P.KEYMAP, self.wdt),
                     self._display(), Buzzer(P.BUZZER, P.BUZZER_HZ))
        self.host = self  # the host link: the USB serial console (read, write, pollable)
        self.pollable = sys.stdin
        self.clock = self
        self.skip_pending = False  # (the simulator's test switches: never on a pad)
        self.wwt_scale = 1
        self.trace = None
        # the RTC's epoch (2000 on older ports): records carry Unix seconds
        self._epoch = 946684800 if time.gmtime(0)[0] == 2000 else 0

    def _display(self):
        if P.DISPLAY == "st7789":
            from st7789 import St7789
            spi = machine.SPI(P.SPI_ID, baudrate=40000000, sck=machine.Pin(P.SPI_SCK),
                              mosi=machine.Pin(P.SPI_MOSI))
            return St7789(spi, machine.Pin(P.TFT_DC, machine.Pin.OUT, value=1))
        from ssd1306 import Ssd1306
        i2c = machine.I2C(P.I2C_ID, scl=machine.Pin(P.I2C_SCL), sda=machine.Pin(P.I2C_SDA),
                          freq=400000)
        return Ssd1306(i2c, P.DISPLAY_ADDR)

    def feed(self):
        self.wdt.feed()

    # the host link (board.host is the board itself: a class of its own costs RAM): the
    # USB serial console, the REPL's (main.py turns Ctrl-C off)
    def read(self, n):
        return sys.stdin.buffer.read(n)

    def write(self, b):
        sys.stdout.buffer.write(b)

    def fault(self, device, detail):
        """A device failed: kept for the journal (at most 8 waiting)."""
        if len(self.faults) < 8:
            self.faults.append(device + bytes((detail & 0xFF,)))

    def now(self):
        """RTC seconds (Unix) when the RTC is set, else None."""
        t = int(time.time()) + self._epoch
        return t if t > 1600000000 else None

    def rtc(self):
        """RTC memory: the bytes the reset that started this boot kept (app.py: the boot
        mode, b"L" a link-first boot, and the full journal's counts), b"" after a power-up.
        MicroPython keeps RTC().memory() in RTC slow memory that machine.reset() and the
        watchdog's reset keep and a power cut loses (checked by a magic word). Read once
        and cleared: a later watchdog reset or crash does not boot by it again."""
        r = machine.RTC()
        m = bytes(r.memory())
        r.memory(b"")
        return m

    def reset(self, rtc=b""):
        """Hard reset (machine.reset(): the chip restarts from its bootloader, every
        peripheral and the heap fresh; no deep sleep) keeping rtc (at most 64 bytes) in RTC
        memory for the next boot's rtc(). The card and the PSAM are powered down first."""
        machine.RTC().memory(rtc)
        self.card.deactivate()
        self.psam.deactivate()
        machine.reset()
