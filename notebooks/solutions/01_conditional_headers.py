# Solution · 01 Exercise 1: conditional requests
def conditional_headers(previous_etag):
    """Headers for the next poll, given the ETag of the last response (None before the first poll)."""
    if previous_etag is None:
        return {}                              # first poll: nothing to compare with
    return {"If-None-Match": previous_etag}    # exactly as received, quotes included
