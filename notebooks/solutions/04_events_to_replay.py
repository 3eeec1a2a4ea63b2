# Solution · 04 Exercise 2: which events does a reconnecting client need?
import rtlab


def events_to_replay(last_event_id, buffer):
    since = int(last_event_id) if last_event_id else 0     # int("abc") raises ValueError
    if buffer and since + 1 < buffer[0].seq:
        raise rtlab.Gap(since, buffer[0].seq)              # events since+1 .. oldest-1 are gone
    return [event for event in buffer if event.seq > since]
