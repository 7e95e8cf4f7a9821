"""Click tracking: signed redirect links (``GET /r/{token}``) for every channel."""
