# Solution · 01 Exercise 3: empty responses per event
def empty_per_event(interval, rate):
    """Empty responses per event, polling every `interval` s, events evenly spaced at `rate`/s."""
    polls_per_s = 1 / interval
    empty_per_s = max(0.0, polls_per_s - rate)   # faster events: every poll carries something
    return empty_per_s / rate
