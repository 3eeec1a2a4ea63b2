# Solution · 04 Exercise 1: the encoder
def my_encode(data, id=None, event=None):
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        lines.append(f"data: {line}")          # one data: line per line of the payload
    return ("\n".join(lines) + "\n\n").encode("utf-8")   # the blank line dispatches the event
