"""The upload limit holds while the body streams in, whatever Content-Length says."""

from __future__ import annotations

import socket
from pathlib import Path

from app.main import create_app
from tests.app.conftest import PATIENCE_S, http, image_bytes, make_settings, random_image, serve

LIMIT_MB = 0.01


def raw_request(url: str, head: str, body: bytes = b"") -> bytes:
    """Sends raw HTTP/1.1 and returns what the server answers before closing or idling."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=PATIENCE_S) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        # Headers and body may arrive in separate packets: read until the declared body is in.
        while True:
            chunk = sock.recv(65536)
            answer += chunk
            headers, sep, rest = answer.partition(b"\r\n\r\n")
            if not chunk or (sep and len(rest) >= _content_length(headers)):
                return answer


def _content_length(headers: bytes) -> int:
    for line in headers.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def test_a_huge_content_length_is_refused_before_any_body(checkpoint: Path) -> None:
    with serve(create_app(make_settings(checkpoint, max_upload_mb=LIMIT_MB))) as url:
        head = (
            "POST /correct HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000000000\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
        )
        # No body is sent at all: the answer cannot have waited for one.
        answer = raw_request(url, head)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"EXPOSURE_MAX_UPLOAD_MB" in answer


def test_a_lying_content_length_gets_no_500(checkpoint: Path) -> None:
    with serve(create_app(make_settings(checkpoint, max_upload_mb=LIMIT_MB))) as url:
        body = (
            b'--x\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\n'
            + b"\0" * 50_000
            + b"\r\n--x--\r\n"
        )
        # Claims 200 bytes and sends 50 kB: the server reads 200 and refuses the rest.
        head = (
            "POST /correct HTTP/1.1\r\nHost: test\r\nContent-Length: 200\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
        )
        answer = raw_request(url, head, body)
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:300]
        assert http.get(f"{url}/healthz").status_code == 200
        files = {"image": ("a.png", image_bytes(random_image(16, 16)), "image/png")}
        assert http.post(f"{url}/correct", files=files).status_code == 200
