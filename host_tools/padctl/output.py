"""What padctl prints: listings as tables with headers on a terminal (rich), one
tab-separated line per row when piped (no header: for grep, cut, a script; --json for
more), and progress on long work with its rate and the time left, ending in one line.
"""
import sys
import time


def is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def listing(rows, columns, title=None, stream=None, empty="nothing to show"):
    """rows: dicts; columns: [(key, header)]. A rich table on a terminal, else plain."""
    stream = stream or sys.stdout
    cells = [["" if r.get(k) is None else str(r.get(k)) for k, _ in columns] for r in rows]
    if not is_terminal(stream):
        for c in cells:
            stream.write("\t".join(c) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    console = Console(file=stream)
    if not rows:
        console.print(empty)
        return
    t = Table(title=title, header_style="bold", show_lines=False)
    for _, header in columns:
        t.add_column(header, overflow="fold")
    for c in cells:
        t.add_row(*c)
    console.print(t)


class Progress:
    """progress(done, total) calls drawn as one overwritten line on a terminal's stderr:
    count, rate and time left; a final line when done() is called (or total reached).
    Nothing when stderr is not a terminal."""

    def __init__(self, what="records", stream=None, clock=time.monotonic):
        self.what = what
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start = None
        self.last = (0, 0)
        self.ended = False

    def __call__(self, done, total):
        now = self.clock()
        if self.start is None:
            self.start = now
        self.last = (done, total)
        if not is_terminal(self.stream) or self.ended:
            return
        if total and done >= total:
            return self.end()
        self.stream.write("\r\x1b[K" + self.line(done, total, now))
        self.stream.flush()

    def line(self, done, total, now=None):
        now = self.clock() if now is None else now
        secs = max(now - (self.start if self.start is not None else now), 1e-9)
        rate = done / secs if done else 0.0
        text = "%d/%d %s, %.0f a second" % (done, total, self.what, rate)
        if total and done < total and rate > 0:
            text += ", %s left" % _duration((total - done) / rate)
        elif done:
            text += ", %s" % _duration(secs)
        return text

    def end(self):
        """The final line (a terminal keeps it)."""
        if self.ended or self.start is None:
            return
        self.ended = True
        if is_terminal(self.stream):
            self.stream.write("\r\x1b[K" + self.line(*self.last) + "\n")
            self.stream.flush()


def _duration(s):
    s = int(round(s))
    if s < 60:
        return "%d s" % s
    if s < 3600:
        return "%d min %02d s" % (s // 60, s % 60)
    return "%d h %02d min" % (s // 3600, s % 3600 // 60)
