"""The console's words in Chinese; English is the key itself."""

ZH = {
    "Clerk's console": "窗口柜员控制台",
    "Sign in": "登录", "Sign out": "退出", "Clerk id": "柜员号", "Password": "密码",
    "Wrong clerk id or password.": "柜员号或密码错误。",
    "Too many failed sign-ins: wait a minute.": "登录失败次数过多，请一分钟后再试。",
    "Your session has expired: sign in again.": "会话已过期，请重新登录。",
    "Pads": "密码键盘", "Events": "事件", "Cards": "卡片", "Alerts": "告警",
    "Unlock / reset": "解锁 / 重置", "Pad": "键盘", "Port": "端口", "Firmware": "固件",
    "Last sync": "最近同步", "Free journal": "日志剩余", "records": "条记录",
    "never": "从未", "none": "无", "Card": "卡号", "Kind": "类型", "From": "起",
    "Until": "止", "Filter": "筛选", "Time": "时间", "Data": "数据", "Seq": "序号",
    "Previous": "上一页", "Next": "下一页", "Page": "第", "of": "/",
    "Wrong PINs since the last success": "上次成功后的错误次数",
    "op:unlock": "解锁", "op:reset": "重置", "Tries left": "剩余次数",
    "State": "状态", "Wrong PINs in a row": "连续错误次数", "Last event": "最近事件",
    "History": "历史", "Checks at the window": "窗口核验记录", "Clerk": "柜员",
    "Operation": "业务", "Holder's document": "持卡人证件", "Agent's document": "代办人证件",
    "Result": "结果", "Journal": "日志", "Find a card": "查找卡片", "all": "全部",
    "ok": "正常", "locked": "已锁定", "unlocked": "已解锁", "reset": "已重置",
    "unlock": "解锁", "Reason": "原因", "Epoch": "纪元",
    "Quarantined records": "隔离记录",
    "Regional database, read-only": "地区数据库（只读）",
    "Cards in the regional database": "地区数据库中的卡片",
    "no such card in the regional database": "地区数据库中没有此卡",
    "not forwarded": "未转发",
    "unlock (PIN kept, tries restored)": "解锁（密码不变，恢复次数）",
    "reset (the holder sets a new PIN at the pad)": "重置（持卡人在键盘上设置新密码）",
    "Document type": "证件类型", "Document number": "证件号码",
    "An agent acts for the holder (reset only)": "代办人代为办理（仅限重置）",
    "Pad to use": "使用的键盘", "Start": "开始",
    "wrong check digit": "校验位错误", "expected": "应为",
    "The check digit is right.": "校验位正确。",
    "In progress": "办理中", "Waiting for the pad...": "等待键盘...",
    "Done": "完成", "Failed": "未完成", "Print the receipt": "打印回执",
    "New operation": "新业务", "Receipt": "回执",
    "Window": "窗口", "Document": "证件", "Masked number": "证件号码（遮盖）",
    "Request refused": "请求被拒绝",
    "The form was not sent by this console (CSRF token or origin wrong).":
        "表单不是由本控制台发出的（CSRF 令牌或来源不符）。",
    "The window cannot work now": "窗口业务暂不可用",
    "The documents were refused": "证件核验未通过",
    "an agent may only reset a PIN; unlocking is done by the holder in person":
        "代办人只能办理密码重置；解锁须持卡人本人办理",
    "the agent's document is required in an agent case": "代办时须提供代办人证件",
    "no such pad": "没有该键盘", "Signed in as": "当前柜员",
    "no such card in the store": "事件库中没有该卡",
    "Holder's signature": "持卡人签字", "Language": "语言",
    "Cards in the store": "事件库中的卡片", "Locked cards": "已锁定的卡片",
    "Operation at the pad": "键盘上的业务", "Steps": "步骤",
    "bad filter": "筛选条件有误", "Not found": "未找到",
    "resident identity card": "居民身份证",
    "residence permit for Hong Kong, Macao or Taiwan residents": "港澳台居民居住证",
    "foreigner's permanent residence ID card": "外国人永久居留身份证",
    "passport": "护照",
    "mainland travel permit for Hong Kong and Macao residents": "港澳居民来往内地通行证",
    "mainland travel permit for Taiwan residents": "台湾居民来往大陆通行证",
    "another operation runs on this pad": "该键盘正在办理另一笔业务",
    "card": "卡", "Skip to the form": "跳到表单",
}


EN = {"op:unlock": "unlock", "op:reset": "reset"}


def translate(lang):
    table = ZH if lang == "zh" else EN

    def _(text):
        return table.get(text, text)
    return _
