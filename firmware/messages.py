# What the pad says, in Chinese and English (chosen by configuration). Two lines each.
from micropython import const

IDLE = const(0)
READING = const(1)
ENTER_PIN = const(2)
PIN_OK = const(3)
PIN_WRONG = const(4)
LOCKED = const(5)
OTHER_REGION = const(6)
NOT_SSC = const(7)
CARD_ERROR = const(8)
PSAM_ERROR = const(9)
LOG_FULL = const(10)
TIMED_OUT = const(11)
CANCELLED = const(12)
PIN_LENGTH = const(13)
NOT_GENUINE = const(14)
CHECKING = const(15)
CARD_PULLED = const(16)
RESTARTED = const(17)

_EN = (
    ("Please insert card", "Social security card"),
    ("Reading card", "Please wait"),
    ("Enter PIN", "{}"),
    ("PIN OK", "Please remove card"),
    ("Wrong PIN", "{} tries left"),
    ("Card locked", "Unlock at your dept window with ID"),
    ("Card of another region", "Use your own dept window"),
    ("Not a social security card", "Please remove card"),
    ("Card error", "Remove card and try again"),
    ("Security module error", "Please call a technician"),
    ("Log full", "Sync with the host first"),
    ("Timed out", "Please remove card"),
    ("Cancelled", "Please remove card"),
    ("PIN must be 6 digits", "{}"),
    ("Card not genuine", "Please remove card"),
    ("Checking PIN", "Please wait"),
    ("Card removed", "Please insert it again"),
    ("Pad restarted", "Please insert card"),
)

_ZH = (
    ("请插入社保卡", "社会保障卡"),
    ("正在读卡", "请稍候"),
    ("请输入密码", "{}"),
    ("密码正确", "请取卡"),
    ("密码错误", "还可尝试{}次"),
    ("卡已锁定", "请本人持有效身份证件到发卡地窗口解锁"),
    ("非本地区卡", "请到发卡地经办窗口办理"),
    ("非社会保障卡", "请取卡"),
    ("读卡错误", "请取卡后重试"),
    ("安全模块错误", "请联系技术人员"),
    ("日志已满", "请先与主机同步"),
    ("操作超时", "请取卡"),
    ("已取消", "请取卡"),
    ("密码须为6位", "{}"),
    ("非法卡", "请取卡"),
    ("正在校验密码", "请稍候"),
    ("卡已拔出", "请重新插卡"),
    ("终端已重启", "请插卡"),
)


def table(lang):
    return _ZH if lang == "zh" else _EN


def lines(tab, msg, arg=""):
    l1, l2 = tab[msg]
    return l1, l2.replace("{}", str(arg))
