# Solution · 06 Your turn: predict the cost of a fresh connection
def predict(transport, path):
    handshake = path.rtt_ms            # TCP: SYN, SYN-ACK (the client may send with its ACK)
    tls = path.tls * path.rtt_ms       # TLS 1.3: one more round trip; TLS 1.2: two
    request = path.rtt_ms              # the HTTP request (or Upgrade) and the start of its answer
    return handshake + tls + request
