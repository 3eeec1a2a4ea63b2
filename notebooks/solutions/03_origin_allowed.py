# Solution · 03 Exercise 2: refuse a foreign Origin
def origin_allowed(origin: str | None, allowed: set[str]) -> bool:
    if origin is None:          # not a browser: Origin checks protect browser users only
        return True
    return origin in allowed    # exact match: scheme, host and port must all be the same
