"""The request log of ``pypireg serve``: one line per answer, with the status sent."""

from __future__ import annotations

import pytest

from pypireg.cli.accesslog import AccessLog

ENVIRON = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/simple/x/\x1b", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1"}


def page(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "5")])
    return [b"hello"]


def test_a_line_per_answer_with_its_status_and_size(capsys) -> None:
    assert AccessLog(page)(dict(ENVIRON), lambda status, headers, exc=None: None) == [b"hello"]
    line = capsys.readouterr().err
    assert line.startswith("127.0.0.1 - - [")
    assert line.endswith('"GET /simple/x/\\x1b HTTP/1.1" 200 5\n')  # escaped, never raw


def test_a_start_the_server_refuses_is_logged_as_a_500_not_as_the_status_refused(capsys) -> None:
    def refusing(status, headers, exc=None):  # type: ignore[no-untyped-def]
        raise AssertionError("headers already sent")

    with pytest.raises(AssertionError):
        AccessLog(page)(dict(ENVIRON), refusing)
    assert capsys.readouterr().err.endswith('HTTP/1.1" 500 -\n')


def test_an_app_that_fails_before_answering_is_logged_as_the_500_it_becomes(capsys) -> None:
    def failing(environ, start_response):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        AccessLog(failing)(dict(ENVIRON), lambda status, headers, exc=None: None)
    assert capsys.readouterr().err.endswith('HTTP/1.1" 500 -\n')
