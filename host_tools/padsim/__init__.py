"""padsim: the simulated world around a pad, for demos, tests and benches.

The virtual card and PSAM (vcard, vpsam), the pad's card and PSAM slots (slot), its
keypad and display (ui_server), the whole simulated pad (sim) and its interactive and
scripted front ends (simcli: `padctl sim`, demo: `padctl demo`), the emulated pad on a
pty (emulate: `padctl emulate`), the power-cut harness (powercut, powercut_all), a
throwaway PostgreSQL (pgtemp) and the benches (bench*: `make bench`).

It uses the clerk's tool (padctl: keys, link, sync, store, the firmware's build); padctl
imports it only inside the commands that run it. Everything it generates is TEST MATERIAL.
"""
