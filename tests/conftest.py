import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# tests/fw/ holds firmware files run under micropython, not pytest modules
collect_ignore = ["fw"]
