"""Run real firmware files under the unix-port MicroPython: see padctl.mpy."""
from padctl.mpy import (BOARD, FIRMWARE, FWTESTS, HEAP, ROOT, micropython, mp_cmd,  # noqa: F401
                        mp_env, popen_mp, run_code, run_mp)
