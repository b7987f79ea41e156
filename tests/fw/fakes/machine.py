# A fake `machine` for running boards/esp32_pinpad's drivers under the unix port.
# TEST MATERIAL: nothing here runs on a pad.
#
# Pin, PWM, UART, I2C, SPI, WDT as the drivers call them, wired to device models of the
# world (tests/fw/fakes/world.py: keypad matrix, SSD1306 / ST7789 panels, TDA8035 card
# slots on the virtual cards of host_tools/padsim/slot.py), registered in `world` below:
# - Pin: outputs keep their level and tell listeners (world.on_pin[id]); inputs read
#   world.inputs[id]() when a model drives them, else their pull level; irq() handlers
#   are called by models (world.irq(id)).
# - UART: its configuration is checked by the slot model it is attached to
#   (world.uarts[id]): bytes written go to it, bytes it sends are read back.
# - I2C: world.i2c[addr] is a device (write(bytes)); no device: OSError 19 (ENODEV),
#   as a NACK on the ESP32.
# - RTC: memory() kept in the file PAD_RTC_MEM over the process's resets (exit 75).
# - reset_cause(): $PAD_RESET_CAUSE, one of the names below (default PWRON_RESET): a test
#   runs one process per boot, a soft reboot as SOFT_RESET with the same PAD_RTC_MEM.
# - WDT: a watcher thread kills the process (SIGKILL, "watchdog fired" on stderr) once
#   the watchdog has not been fed for its timeout: a hard reset, like a power cut.
import os
import sys
import time


class _World:
    def __init__(self):
        self.pins = {}
        self.inputs = {}  # pin id -> callable giving its level
        self.on_pin = {}  # pin id -> callable(level) when an output changes
        self.uarts = {}  # uart id -> slot model
        self.i2c = {}  # address -> device
        self.spi = None  # the SPI device: write(bytes, dc level)
        self.pwm = {}  # pin id -> PWM
        self.i2c_error = None  # an errno every I2C transfer fails with (a stuck bus)
        self.on_pwm = None  # callable(pwm, duty) at each duty change

    def irq(self, pin_id):
        p = self.pins.get(pin_id)
        if p is not None and p._handler is not None:
            p._handler(p)


world = _World()


class Pin:
    IN = 1
    OUT = 2
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._v = 1 if pull == Pin.PULL_UP else 0
        self._handler = None
        world.pins[id] = self
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if self.mode in (Pin.OUT, Pin.OPEN_DRAIN):
                return self._v
            f = world.inputs.get(self.id)
            return f() if f is not None else self._v
        self._v = 1 if v else 0
        f = world.on_pin.get(self.id)
        if f is not None:
            f(self._v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3):
        self._handler = handler
        self._trigger = trigger


class PWM:
    def __init__(self, pin, freq=5000, duty_u16=0):
        self.pin = pin
        self._f = freq
        self._d = duty_u16
        world.pwm[pin.id] = self

    def freq(self, f=None):
        if f is None:
            return self._f
        self._f = f

    def duty_u16(self, d=None):
        if d is None:
            return self._d
        self._d = d
        if world.on_pwm is not None:
            world.on_pwm(self, d)

    def deinit(self):
        self._d = 0


class UART:
    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, tx=None, rx=None,
                 rxbuf=256, timeout=0, **kw):
        self.id = id
        self.baudrate, self.bits, self.parity, self.stop = baudrate, bits, parity, stop
        self.tx, self.rx = tx, rx
        self.model = world.uarts.get(id)
        if self.model is not None:
            self.model.attach(self)

    def init(self, baudrate=None, **kw):
        if baudrate is not None:
            self.baudrate = baudrate

    def _m(self):
        if self.model is None:
            raise OSError(5, "nothing on UART%d" % self.id)
        return self.model

    def any(self):
        return self._m().any()

    def read(self, n=-1):
        return self._m().read(n)

    def readinto(self, buf, n=None):
        d = self._m().read(len(buf) if n is None else n)
        if not d:
            return None
        buf[:len(d)] = d
        return len(d)

    def write(self, buf):
        self._m().write(bytes(buf))
        return len(buf)


class I2C:
    def __init__(self, id, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id

    def _dev(self, addr):
        if world.i2c_error:
            raise OSError(world.i2c_error)
        d = world.i2c.get(addr)
        if d is None:
            raise OSError(19)  # ENODEV: no ACK
        return d

    def writeto(self, addr, buf, stop=True):
        self._dev(addr).write(bytes(buf))
        return 1

    def writevto(self, addr, vector, stop=True):
        self._dev(addr).write(b"".join(bytes(v) for v in vector))
        return len(vector)

    def scan(self):
        return sorted(world.i2c)


class SPI:
    def __init__(self, id, baudrate=1000000, sck=None, mosi=None, miso=None, **kw):
        self.id = id

    def write(self, buf):
        if world.spi is None:
            return  # SPI has no ACK: nothing there, nothing seen
        dc = world.pins.get(world.spi.dc_pin)
        world.spi.write(bytes(buf), dc._v if dc is not None else 1)


class WDT:
    fired_status = None

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self._last = time.ticks_ms()
        self.feeds = 0
        import _thread
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self._last = time.ticks_ms()
        self.feeds += 1

    def _watch(self):
        while True:
            time.sleep_ms(20)
            if time.ticks_diff(time.ticks_ms(), self._last) > self.timeout:
                sys.stderr.write("watchdog fired\n")
                os.system("kill -9 $PPID")  # the shell's parent: this process


PWRON_RESET = 1  # the ESP32 port's values
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset_cause():
    return globals()[os.getenv("PAD_RESET_CAUSE") or "PWRON_RESET"]


def reset():
    sys.exit(75)  # as boards/unix_sim: "reset me" to a supervising harness


class RTC:
    """RTC().memory([data]): kept over resets, lost at a power cut. Here in the file named
    by PAD_RTC_MEM (a test deletes it for a power cut), else in this process only."""

    _mem = b""

    def memory(self, data=None):
        path = os.getenv("PAD_RTC_MEM")
        if data is None:
            if not path:
                return RTC._mem
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        if len(data) > 64:
            raise ValueError("RTC memory: 64 bytes at most")
        if path:
            with open(path, "wb") as f:
                f.write(bytes(data))
        else:
            RTC._mem = bytes(data)


def freq():
    return 240000000


def unique_id():
    return b"\xfa\x4e\x00\x01\x02\x03"
