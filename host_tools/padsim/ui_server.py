"""The simulated keypad, display and buzzer (docs/protocol.md 7.2), as a loopback TCP server.

The pad connects once; the server records every screen it shows and sends keys.
"""
import re
import socket
import threading
import time


class UiServer:
    def __init__(self, host="127.0.0.1", port=0, echo=None):
        self._ls = socket.socket()
        self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._ls.bind((host, port))
        self._ls.listen(4)
        self.port = self._ls.getsockname()[1]
        self.screens = []       # (line1, line2) in the order shown
        self.beeps = 0
        self._conn = None
        self._cv = threading.Condition()
        self._echo = echo       # callable(line1, line2) for an interactive view
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self._ls.accept()
            except OSError:
                return
            with self._cv:
                if self._conn is not None:
                    try:
                        self._conn.close()
                    except OSError:
                        pass
                self._conn = conn
                self._cv.notify_all()
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        buf = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._line(line.decode("utf-8", "replace"))

    def _line(self, line):
        with self._cv:
            if line.startswith("SCREEN "):
                l1, _, l2 = line[7:].partition("\t")
                self.screens.append((l1, l2))
                if self._echo:
                    self._echo(l1, l2)
            elif line.startswith("BEEP"):
                self.beeps += 1
            self._cv.notify_all()

    def connected(self, timeout=10):
        with self._cv:
            return self._cv.wait_for(lambda: self._conn is not None, timeout)

    def press(self, keys, gap=0.0):
        """Send keys: digits, C (Clear), X (Cancel), E (Enter)."""
        if not self.connected():
            raise RuntimeError("pad not connected to the UI")
        for k in keys:
            self._conn.sendall(k.encode())
            if gap:
                time.sleep(gap)

    @property
    def screen(self):
        with self._cv:
            return self.screens[-1] if self.screens else ("", "")

    def mark(self):
        """A position in the screen history, for wait_for(after=...)."""
        with self._cv:
            return len(self.screens)

    def wait_for(self, pattern, timeout=10.0, after=0):
        """Wait until a screen (either line) matching the regex appears at or after `after`;
        returns (index, (line1, line2)); raises TimeoutError naming what was shown instead."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout

        def find():
            for i in range(after, len(self.screens)):
                l1, l2 = self.screens[i]
                if rx.search(l1) or rx.search(l2) or rx.search(l1 + " | " + l2):
                    return i
            return None

        with self._cv:
            while True:
                i = find()
                if i is not None:
                    return i, self.screens[i]
                left = end - time.monotonic()
                if left <= 0:
                    shown = self.screens[after:][-5:]
                    raise TimeoutError("screen /%s/ not shown; last: %r" % (pattern, shown))
                self._cv.wait(left)

    def close(self):
        self._closed = True
        for s in (self._conn, self._ls):
            try:
                if s:
                    s.close()
            except OSError:
                pass
