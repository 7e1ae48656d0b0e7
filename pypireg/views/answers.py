"""The plain answers every API area gives: JSON bodies and empty 204s."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def no_content() -> Response:
    response = Response(status=204)
    response.headers.remove("Content-Type")  # a 204 has no body to describe
    return response
