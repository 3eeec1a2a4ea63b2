# Solution · 05 Your turn: predict the bill for a quiet feed
def predict(transport, results):
    r = results[transport]
    per_request = (r.server.bytes_in + r.server.bytes_out) / r.server.requests if r.server.requests else 0
    if transport == "short-polling":
        return 60 / 5 * per_request            # 12 polls per event, 11 of them empty
    if transport == "long-polling":
        return 60 / 30 * per_request           # one answer with the event, one "nothing" after 30 s
    if transport == "sse":
        return r.bytes_per_event + 60 / 15 * 19  # the event, plus 4 keep-alive comments
    return r.bytes_per_event + 60 / 10 * 8       # the event, plus 6 ping/pong pairs
