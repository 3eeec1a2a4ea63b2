# Solution · 02 Your turn 1: the cursor logic
def next_cursor(cursor: int, body: dict) -> int:
    events = body["events"]
    return events[-1]["seq"] if events else cursor   # the last change received, not body["seq"]
