"""The checkers behind the notebooks' claims and "Your turn" exercises.

One module per notebook holds its checkers; :mod:`.claims` the verdicts they print.
Two kinds of check:

* :func:`claim` — what the notebook told the learner they would observe. It prints one
  ``✓`` line with the measured numbers, or raises :class:`ClaimFailed` with the numbers
  and what that means, so a broken lab fails CI.
* exercise checkers (``check_*``) — run the learner's code against a real server and say
  precisely what is wrong, as a learner would want to hear it.
"""

from .claims import Check, ClaimFailed, NotYet, claim, graded, not_yet, passed, within
from .long_polling import check_hold_time, check_next_cursor
from .middleboxes import check_diagnosis
from .networks import check_first_event
from .short_polling import check_conditional_headers, check_empty_per_event, check_prediction
from .showdown import check_quiet_prediction, quiet_feed_bytes
from .sse import check_encoder, check_replay
from .websocket import check_heartbeat, check_origin_allowed

__all__ = ["Check", "ClaimFailed", "NotYet", "check_conditional_headers", "check_diagnosis",
           "check_empty_per_event",
           "check_encoder", "check_first_event", "check_heartbeat", "check_hold_time", "check_next_cursor",
           "check_origin_allowed", "check_prediction", "check_quiet_prediction", "check_replay", "claim",
           "graded", "not_yet", "passed", "quiet_feed_bytes", "within"]
