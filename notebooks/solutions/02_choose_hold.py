# Solution · 02 Your turn 2: choose a hold time
def choose_hold(client_timeout_s: float, proxy_timeout_s: float) -> float:
    limit = min(client_timeout_s, proxy_timeout_s)   # whichever gives up first
    margin = min(0.5, 0.1 * limit)                    # 0.5 s for the trip back, or 10 % if that is less
    return limit - margin                             # Nacos: 30 s → 29.5 s; a 1 s client → 0.9 s
