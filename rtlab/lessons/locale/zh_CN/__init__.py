"""简体中文 (zh-CN) message catalogue: {English message id: 译文}.

Terms follow the article the lab grew from (聊聊四种实时通信技术): 短轮询、长轮询、实时性、
资源消耗、全双工、断线重连、挂起连接; and the glossary in docs/instructors.zh-CN.md
(游标 cursor, 挂起 hold, 心跳 heartbeat, 扇出 fan-out). The ``{fields}`` are the same as in the
English id; their order may differ. A test checks that every id the code uses is here.
"""

from .article import MESSAGES as _ARTICLE
from .checks import MESSAGES as _CHECKS
from .limits import MESSAGES as _LIMITS
from .networks import MESSAGES as _NETWORKS
from .views import MESSAGES as _VIEWS

MESSAGES: dict[str, str] = {**_CHECKS, **_VIEWS, **_ARTICLE, **_LIMITS, **_NETWORKS}
