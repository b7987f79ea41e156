# The keypad: a matrix scanned on demand, debounced, behind the stream protocol so that the
# app's one wait loop (firmware/events.py) polls it with select.poll beside the host link:
# poll calls ioctl(POLL) over and over while it waits, and each call scans the matrix
# (at most every _SCAN_MS) and feeds the watchdog (the main loop is alive).
#
# A key counts once, when it has been down for _DEBOUNCE_MS (no repeat while held). A
# key down for _STUCK_MS is stuck: it is reported once (stuck, for the journal) and masked,
# so the other keys still work and the stuck one never types; it comes back once it has
# been seen up. Several keys down at once: the newest counts, the ones held before are
# ignored until released.
import io
import time

from machine import Pin
from micropython import const

_SCAN_MS = const(4)
_DEBOUNCE_MS = const(20)
_STUCK_MS = const(3000)
_POLL = const(3)  # MP_STREAM_POLL
_POLLIN = const(1)


class Keypad(io.IOBase):
    def __init__(self, rows, cols, keymap, wdt=None):
        self._rows = [Pin(r, Pin.OPEN_DRAIN, value=1) for r in rows]
        self._cols = [Pin(c, Pin.IN) for c in cols]
        self._map = keymap
        self._wdt = wdt
        n = len(rows) * len(cols)
        self._since = [0] * n  # when each key went down (ticks), 0: up
        self._state = bytearray(n)  # 0 up, 1 down (not yet counted), 2 counted, 3 masked
        self._key = None  # the key waiting to be read
        self._last = time.ticks_ms()
        self.stuck = None  # the last key found stuck, for the board to report
        self._scan()
        for i in range(n):  # down at power-up: stuck (masked until seen up)
            if self._state[i]:
                self._state[i] = 3
                self.stuck = keymap[i]

    def _scan(self):
        now = time.ticks_ms()
        self._last = now
        st, since = self._state, self._since
        nc = len(self._cols)
        for r, row in enumerate(self._rows):
            row.value(0)
            for c, col in enumerate(self._cols):
                i = r * nc + c
                if col.value():  # up (pulled high)
                    st[i] = 0
                    continue
                if st[i] == 0:
                    st[i] = 1
                    since[i] = now
                    continue
                held = time.ticks_diff(now, since[i])
                if st[i] == 1 and held >= _DEBOUNCE_MS:
                    st[i] = 2
                    self._key = self._map[i]  # the newest key counts
                elif st[i] == 2 and held >= _STUCK_MS:
                    st[i] = 3
                    self.stuck = self._map[i]
                    if self._key == self._map[i]:
                        self._key = None
            row.value(1)

    def ioctl(self, req, arg):
        if req != _POLL:
            return -1  # (no file descriptor: the unix port asks for one)
        if self._wdt:
            self._wdt.feed()
        if time.ticks_diff(time.ticks_ms(), self._last) >= _SCAN_MS:
            self._scan()
        return _POLLIN if self._key is not None and arg & _POLLIN else 0

    def read_key(self):
        """The key counted (one of the keymap's characters), None if none."""
        k = self._key
        self._key = None
        return k
