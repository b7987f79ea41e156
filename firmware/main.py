# Composition root: build the board, run the pad. An uncaught exception is journaled and
# the pad restarts (never a REPL): board.reset() is a hard reset (on the simulator, the
# process exits with 75 and the simulated world powers it up again). If the board cannot
# even reset, the pad retries in place, slower and slower.
import gc
import sys
import time

import board as B


def main():
    import micropython
    micropython.kbd_intr(-1)  # the console is the host link: 0x03 is data, never a break
    import app
    pause = 200
    while True:
        b = pad = None
        try:
            b = B.Board()
            pad = app.Pad(b)
            pause = 200
            pad.run()
        except Exception as e:
            sys.print_exception(e, sys.stderr)
            app.crashed(pad, e)
            if b is not None:
                b.reset()
        b = pad = None
        gc.collect()
        time.sleep_ms(pause)
        pause = min(pause * 2, 5000)  # a pad that cannot start retries, slower and slower


main()
