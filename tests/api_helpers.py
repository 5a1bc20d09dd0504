"""What API tests share."""

from __future__ import annotations

import json


def error_of(response) -> dict:
    """The `error` object of an API error response, after checking it has the one error shape."""
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]
