# The buzzer: a magnetic buzzer driven by an LEDC PWM pin; beep(n) is n short tones (the
# app's 1: a key refused, 2: an error), blocking for at most n * 160 ms.
import time

from machine import PWM, Pin
from micropython import const

_ON_MS = const(80)
_OFF_MS = const(80)


class Buzzer:
    def __init__(self, pin, hz):
        self.pwm = PWM(Pin(pin), freq=hz, duty_u16=0)

    def beep(self, n=1):
        for i in range(min(n, 5)):
            if i:
                time.sleep_ms(_OFF_MS)
            self.pwm.duty_u16(32768)
            time.sleep_ms(_ON_MS)
            self.pwm.duty_u16(0)
