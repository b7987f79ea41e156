# The pad's one wait loop: keys from the keypad, and the host link served meanwhile,
# so a sync runs while the pad waits for a card or a PIN.
import select

from micropython import const

_QUIET_MS = const(5000)  # a host silent this long has finished: the link's RAM is freed
# ERROR 0C (protocol.md 9.4), framed: the answer to a frame while the link cannot be loaded
_BUSY = const(b"#650c50e5c136\n")


class Events:
    def __init__(self, ui, host=None, link_factory=None):
        self.ui = ui
        self.host = host
        self.link = None  # built by link_factory when the host first speaks
        self.link_factory = link_factory
        self._refused = False  # the link could not be loaded for the frame coming in
        self._poll = select.poll()
        self._poll.register(ui.pollable, select.POLLIN)
        if host is not None:
            self._poll.register(host.pollable, select.POLLIN)

    def _serve_host(self):
        b = self.host.read(1)
        if not b:  # host side closed: stop polling it
            self._poll.unregister(self.host.pollable)
            self.host = None
            return
        import time
        self.heard = time.ticks_ms()
        if self.link is None and self.link_factory is not None:
            if not self._refused:  # (tried once a frame: a failed load is not cheap)
                try:
                    self.link = self.link_factory()
                except MemoryError:  # a card session holds the RAM: "cannot answer now"
                    self.drop_link()  # at the frame's end; the host asks again (9.5)
                    self._refused = True
            if self.link is None:
                if b == b"\n" or b == b"\r":
                    self.host.write(_BUSY)
                    self._refused = False
                return
        if self.link is not None:
            self.link.feed(b, self.host.write)  # each answer written as it is made

    def drop_link(self):
        """Frees the link's RAM (a card session is starting); it is loaded again when the
        host next speaks, and a sync in flight is re-run by the host."""
        if self.link is not None:
            self.link = None
            import sys
            sys.modules.pop("link", None)
            sys.modules.pop("jcopy", None)  # the PULL's journal reader (journal.copy_from)
            sys.modules.pop("jack", None)  # the acknowledgement and reclaim (journal.ack)

    def wait_key(self, timeout_ms):
        """The next key within timeout_ms (None if none), serving the host link meanwhile."""
        import time
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return None
            ready = self._poll.poll(left)
            if not ready and self.link is not None and \
                    time.ticks_diff(time.ticks_ms(), self.heard) > _QUIET_MS:
                self.drop_link()  # the host went quiet: free the link's RAM until it speaks
            for obj, ev in ready:
                if obj is self.ui.pollable or obj == self.ui.pollable:
                    if ev & (select.POLLHUP | select.POLLERR):
                        raise OSError("ui gone")
                    k = self.ui.read_key()
                    if k is not None:
                        return k
                elif self.host is not None:
                    self._serve_host()
