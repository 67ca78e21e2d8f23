"""Every endpoint and error through real HTTP against a uvicorn server on the tiny model."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from app.main import create_app
from model import camera_inverse_uint8, overexpose_uint8
from tests.app.conftest import http, image_bytes, make_settings, metric_value, random_image, serve


def post(url: str, path: str, data: bytes, **fields: str) -> httpx.Response:
    """Posts `data` as the multipart field `image`, plus form fields."""
    files = {"image": ("upload", data, "application/octet-stream")}
    return http.post(f"{url}{path}", files=files, data=fields)


def decoded(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def test_health_and_readiness(server: str) -> None:
    assert http.get(f"{server}/healthz").json() == {"status": "alive"}
    ready = http.get(f"{server}/readyz")
    assert ready.status_code == 200 and ready.json()["device"] == "cpu"


@pytest.mark.parametrize(
    ("fmt", "options", "content_type", "out_format"),
    [
        ("JPEG", {"quality": 95}, "image/jpeg", "JPEG"),
        ("PNG", {}, "image/png", "PNG"),
        ("WEBP", {"lossless": True}, "image/webp", "WEBP"),
        ("TIFF", {}, "image/png", "PNG"),
        ("BMP", {}, "image/png", "PNG"),
    ],
)
def test_correct_keeps_size_and_format_family(
    server: str, fmt: str, options: dict[str, object], content_type: str, out_format: str
) -> None:
    photo = random_image(37, 61, seed=1)
    response = post(server, "/correct", image_bytes(photo, fmt, **options))
    assert response.headers["content-type"] == content_type
    out = decoded(response)
    assert (out.format, out.size, out.mode) == (out_format, (61, 37), "RGB")
    # The test generator takes 2 EV back: the output must be darker than the input.
    assert np.asarray(out).astype(float).mean() < photo.astype(float).mean() - 5


@pytest.mark.parametrize(("fmt", "pillow"), [("png", "PNG"), ("webp", "WEBP"), ("jpeg", "JPEG")])
def test_format_parameter(server: str, fmt: str, pillow: str) -> None:
    data = image_bytes(random_image(20, 30), "JPEG")
    assert decoded(post(server, "/correct", data, format=fmt, quality="70")).format == pillow


def test_simulate_matches_the_spec_formula(server: str) -> None:
    photo = random_image(41, 23, seed=2)
    for tau, gamma in [(0.5, 1 / 2.2), (0.35, 0.4), (1.0, 1 / 2.2), (0.01, 1.0)]:
        out = decoded(
            post(
                server, "/simulate-overexposure", image_bytes(photo), tau=str(tau), gamma=str(gamma)
            )
        )
        x = photo.astype(np.float64) / 255
        expected = np.round(np.minimum(1.0, x * tau ** (-gamma)) * 255)
        got = np.asarray(out).astype(np.float64)
        assert np.abs(got - expected).max() <= 1
        assert np.array_equal(np.asarray(out), overexpose_uint8(photo, tau, gamma))


def test_simulate_defaults_to_the_poster_setting(server: str) -> None:
    photo = random_image(16, 16, seed=3)
    out = decoded(post(server, "/simulate-overexposure", image_bytes(photo)))
    assert np.array_equal(np.asarray(out), overexpose_uint8(photo, 0.5, 1 / 2.2))


def test_correct_says_which_ev_it_took_back_and_where_it_came_from(server: str) -> None:
    # The tiny test estimator says 2 EV for any photo, and the tiny generator leaves its curve
    # unbent: unclipped values come back as SPEC 1b's inverse for the EV used, the estimator's
    # or the client's.
    truth = random_image(48, 64, seed=5)
    unclipped = truth < 245  # below the fill mask
    blind = post(server, "/correct", image_bytes(truth))
    assert blind.headers["x-exposure-ev"] == "2.00"
    assert blind.headers["x-exposure-ev-source"] == "estimate"
    corrected = np.asarray(decoded(blind)).astype(int)
    expected = camera_inverse_uint8(truth, 2.0).astype(int)
    assert np.abs(corrected - expected)[unclipped].max() <= 1
    told = post(server, "/correct", image_bytes(truth), ev="0.5")
    assert told.headers["x-exposure-ev"] == "0.50"
    assert told.headers["x-exposure-ev-source"] == "client"
    corrected = np.asarray(decoded(told)).astype(int)
    expected = camera_inverse_uint8(truth, 0.5).astype(int)
    assert np.abs(corrected - expected)[unclipped].max() <= 1
    text = http.get(f"{server}/metrics").text
    assert metric_value(text, 'exposure_correction_ev_count{source="estimate"}') >= 1
    assert metric_value(text, 'exposure_correction_ev_count{source="client"}') >= 1
    assert metric_value(text, 'exposure_correction_ev_bucket{le="0.5",source="client"}') >= 1


@pytest.mark.parametrize("value", ["-0.5", "4.5", "nan", "inf", "lots"])
def test_bad_ev_is_422_with_what_is_accepted(server: str, value: str) -> None:
    response = post(server, "/correct", image_bytes(random_image(8, 8)), ev=value)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "ev" in detail and "accepted" in detail


def test_request_id_is_kept_or_generated(server: str) -> None:
    given = http.get(f"{server}/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = http.get(f"{server}/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id\twith spaces")
    error = post(server, "/correct", b"garbage", **{})
    assert error.headers["x-request-id"]


def test_garbage_is_400_json(server: str) -> None:
    for path in ("/correct", "/simulate-overexposure"):
        response = post(server, path, b"definitely not an image")
        assert response.status_code == 400
        assert "JPEG, PNG, WebP, TIFF or BMP" in response.json()["detail"]


def test_truncated_image_is_400(server: str) -> None:
    data = image_bytes(random_image(64, 64), "PNG")
    response = post(server, "/correct", data[: len(data) // 2])
    assert response.status_code == 400, response.text
    assert "PNG" in response.json()["detail"]


def test_empty_upload_is_400(server: str) -> None:
    assert post(server, "/correct", b"").status_code == 400


def test_missing_image_is_422(server: str) -> None:
    response = http.post(f"{server}/correct", data={"format": "png"})
    assert response.status_code == 422
    assert "image" in response.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tau", "0"),
        ("tau", "-0.1"),
        ("tau", "1.5"),
        ("tau", "nan"),
        ("tau", "inf"),
        ("tau", "abc"),
        ("gamma", "0"),
        ("gamma", "2"),
        ("gamma", "NaN"),
        ("format", "gif"),
        ("quality", "0"),
        ("quality", "101"),
        ("quality", "abc"),
        ("quality", "50.5"),
    ],
)
def test_bad_parameters_are_422_with_what_is_accepted(server: str, field: str, value: str) -> None:
    response = post(
        server, "/simulate-overexposure", image_bytes(random_image(8, 8)), **{field: value}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and field in detail and "accepted" in detail


def test_bad_format_on_correct_is_422(server: str) -> None:
    response = post(server, "/correct", image_bytes(random_image(8, 8)), format="tiff")
    assert response.status_code == 422
    assert "jpeg, png, webp" in response.json()["detail"]


def test_unsupported_formats_are_415(server: str) -> None:
    gif = image_bytes(random_image(8, 8), "GIF")
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'
    for data, name in [(gif, "GIF"), (svg, "SVG")]:
        response = post(server, "/correct", data)
        assert response.status_code == 415
        assert name in response.json()["detail"] and "accepted" in response.json()["detail"]


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (with a valid CRC) over a tiny body."""
    data = bytearray(image_bytes(random_image(4, 4)))
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_pixel_count_is_checked_from_the_header(checkpoint: Path) -> None:
    with serve(create_app(make_settings(checkpoint, max_pixels=10_000))) as url:
        for width, height in [(101, 100), (100_000, 100_000)]:
            response = post(url, "/correct", _png_claiming(width, height))
            assert response.status_code == 413, response.text
            assert "10000" in response.json()["detail"]
        assert post(url, "/correct", image_bytes(random_image(100, 100))).status_code == 200


def test_upload_limit(checkpoint: Path) -> None:
    with serve(create_app(make_settings(checkpoint, max_upload_mb=0.01))) as url:
        big = image_bytes(random_image(100, 100))  # ~30 kB of noise
        response = post(url, "/correct", big)
        assert response.status_code == 413
        assert "EXPOSURE_MAX_UPLOAD_MB" in response.json()["detail"]
        assert response.headers["x-request-id"]

        # Without Content-Length (chunked), the limit holds while the body streams in.
        def chunks() -> object:
            yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="a"\r\n\r\n'
            for _ in range(20):
                yield b"\0" * 4096

        streamed = http.post(
            f"{url}/correct",
            content=chunks(),  # type: ignore[arg-type]
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert streamed.status_code == 413
        assert "EXPOSURE_MAX_UPLOAD_MB" in streamed.json()["detail"]
        small = image_bytes(random_image(16, 16))
        assert post(url, "/correct", small).status_code == 200
        metrics = http.get(f"{url}/metrics").text
        assert (
            metric_value(metrics, 'exposure_requests_rejected_total{reason="upload_too_large"}')
            == 2
        )


def test_unknown_path_is_json_404(server: str) -> None:
    response = http.get(f"{server}/nope")
    assert response.status_code == 404 and "/correct" in response.json()["detail"]


def test_openapi_and_docs(server: str) -> None:
    assert "/correct" in http.get(f"{server}/openapi.json").json()["paths"]
    assert http.get(f"{server}/docs").status_code == 200


def test_metrics_are_exported(checkpoint: Path) -> None:
    with serve(create_app(make_settings(checkpoint))) as url:
        post(url, "/correct", image_bytes(random_image(10, 10)))
        post(url, "/correct", b"junk")
        text = http.get(f"{url}/metrics").text
    for name in [
        "exposure_request_duration_seconds_bucket",
        "exposure_queue_wait_seconds_bucket",
        "exposure_inference_duration_seconds_bucket",
        "exposure_batch_size_bucket",
        "exposure_queue_depth",
        "exposure_requests_rejected_total",
    ]:
        assert name in text
    assert 'le="120.0"' in text
    assert (
        metric_value(
            text, 'exposure_request_duration_seconds_count{endpoint="/correct",status="200"}'
        )
        == 1
    )
    assert metric_value(text, 'exposure_requests_rejected_total{reason="bad_image"}') == 1
    assert 'exposure_batch_size_bucket{le="48.0"}' in text


def test_each_stage_of_a_correction_is_timed(checkpoint: Path) -> None:
    with serve(create_app(make_settings(checkpoint))) as url:
        post(url, "/correct", image_bytes(random_image(40, 30)))
        post(url, "/simulate-overexposure", image_bytes(random_image(40, 30)))
        text = http.get(f"{url}/metrics").text
    stages = ["decode", "canvas", "estimate", "queue", "forward", "apply", "encode"]
    for stage in stages:
        count = metric_value(text, f'exposure_stage_duration_seconds_count{{stage="{stage}"}}')
        assert count == 1, stage
    # Both requests' jobs waited for a pool slot: two jobs each.
    assert metric_value(text, 'exposure_stage_duration_seconds_count{stage="pool_wait"}') == 4
    total = metric_value(
        text, 'exposure_request_duration_seconds_sum{endpoint="/correct",status="200"}'
    )
    timed = sum(
        metric_value(text, f'exposure_stage_duration_seconds_sum{{stage="{stage}"}}')
        for stage in stages
    )
    assert 0 < timed <= total  # the stages fit inside the request
