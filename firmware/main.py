# Composition root: build the board, run the pad; an uncaught exception is journaled and
# the pad restarts (never a REPL).
import sys
import time

import board as B


def main():
    import micropython
    micropython.kbd_intr(-1)  # the console is the host link: 0x03 is data, never a break
    import app
    while True:
        b = None
        try:
            b = B.Board()
            app.Pad(b).run()
        except KeyboardInterrupt:
            raise
        except Exception as e:
            sys.print_exception(e, sys.stderr)
            if b is not None:
                app.crashed(b, e)
                b.reset()
            time.sleep_ms(200)


main()
