# Solution · 01 Exercise 2: predict latency and requests from the theory
def predict(interval, rate):
    """(mean latency in ms, requests per second) for short polling every `interval` s."""
    mean_latency_ms = interval / 2 * 1000   # uniform wait on 0..interval: mean interval / 2
    requests_per_s = 1 / interval           # one poll per interval, news or not: rate plays no part
    return mean_latency_ms, requests_per_s
