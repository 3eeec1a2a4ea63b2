# Solution · 07 Your turn: name the middlebox from its symptoms
def diagnose(s):
    if s.websocket_status == 403:
        return "no-upgrade"  # a proxy answered the handshake itself
    if s.status is None:
        return "buffering"  # not even the head came through: something holds the whole response
    if s.content_encoding == "gzip" and s.first_byte_s is None:
        return "compressing"  # the head came, the body is waiting for a gzip block
    if s.closed_s is not None:
        return "idle-timeout"  # the stream was flowing, then the path hung up on a quiet connection
    return "transparent"
