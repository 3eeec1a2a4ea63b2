# Solution · 03 Exercise 1: drop a vanished player within one second
def heartbeat_for(notice_within_s: float) -> float:
    # ping after h seconds of silence, give up h/2 later: noticed after 1.5 h.
    # h = deadline / 2 → noticed after 0.75 × deadline, a quarter of slack for a busy machine.
    return notice_within_s / 2
