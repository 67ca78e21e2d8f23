"""Bad and unusual uploads: each gets its SPEC status and a JSON detail; never a 500."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from tests.app.conftest import http, image_bytes, random_image
from tests.app.corpus import Case, cases

CASES = cases()


def send(url: str, case: Case) -> httpx.Response:
    if case.content is not None:
        headers = {"Content-Type": case.content_type or "application/octet-stream"}
        return http.post(f"{url}{case.path}", content=case.content, headers=headers)
    return http.post(f"{url}{case.path}", files=case.files or None, data=case.data)


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_input_gets_its_status(server: str, case: Case) -> None:
    response = send(server, case)
    assert response.status_code == case.status, response.text
    if case.status == 200:
        image = Image.open(io.BytesIO(response.content))
        assert image.format is not None
        assert response.headers["content-type"] == f"image/{image.format.lower()}"
        if case.size is not None:
            assert image.size == case.size
        return
    body = response.json()
    assert set(body) == {"detail"}
    assert "accepted" in body["detail"]
    assert "Traceback" not in body["detail"] and 'File "' not in body["detail"]


def test_a_broken_icc_profile_is_dropped(server: str) -> None:
    case = next(case for case in CASES if case.name == "bad ICC profile")
    response = send(server, case)
    assert response.status_code == 200
    assert "icc_profile" not in Image.open(io.BytesIO(response.content)).info


def test_the_service_stays_healthy_after_the_corpus(server: str) -> None:
    # The refused ones again (the accepted ones ran above, on this module's server).
    for case in CASES:
        if case.status != 200:
            assert send(server, case).status_code == case.status
    assert http.get(f"{server}/healthz").status_code == 200
    assert http.get(f"{server}/readyz").status_code == 200
    files = {"image": ("a.png", image_bytes(random_image(16, 16)), "image/png")}
    assert http.post(f"{server}/correct", files=files).status_code == 200
