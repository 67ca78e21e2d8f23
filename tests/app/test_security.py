"""Security: no unpickling, optional API keys, CORS off by default, request ids, quiet logs."""

from __future__ import annotations

import asyncio
import logging
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from app.main import create_app
from app.security import key_matches
from tests.app.conftest import http, image_bytes, make_settings, random_image, serve

ROOT = Path(__file__).resolve().parents[2]


def post_image(url: str, data: bytes, **headers: str) -> int:
    response = http.post(f"{url}/correct", files={"image": ("a.png", data)}, headers=headers)
    return response.status_code


def test_serving_code_never_unpickles() -> None:
    sources = [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("model").rglob("*.py")]
    for path in sources:
        text = path.read_text()
        for forbidden in ("torch.load(", "import pickle", "pickle.load", "torch.jit.load"):
            assert forbidden not in text, f"{path.relative_to(ROOT)} uses {forbidden}"
    for module in ("checkpoint.py", "estimator.py"):
        code = ROOT.joinpath("model", module).read_text()
        assert "from safetensors.torch import load_file" in code


class _Payload:
    """Unpickling this would create `marker`: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_a_pickle_named_safetensors_is_refused_cleanly(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.safetensors"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save({"weights": torch.zeros(2), "payload": _Payload(marker)}, path)
    app = create_app(make_settings(path))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(RuntimeError, match=r"not a safetensors file.*EXPOSURE_CHECKPOINT"):
        asyncio.run(start())
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_a_pickled_estimator_is_refused_cleanly(
    tmp_path: Path, checkpoint: Path, kind: str
) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil-estimator.safetensors"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save({"weights": torch.zeros(2), "payload": _Payload(marker)}, path)
    app = create_app(make_settings(checkpoint, estimator_checkpoint=path))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    pattern = r"not a safetensors file.*EXPOSURE_ESTIMATOR_CHECKPOINT"
    with pytest.raises(RuntimeError, match=pattern):
        asyncio.run(start())
    assert not marker.exists()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two servers with API keys: probes public (default) and probes protected."""
    from model import save_generator
    from tests.conftest import tiny_generator

    path = tmp_path_factory.mktemp("keyed") / "tiny.safetensors"
    save_generator(path, tiny_generator())
    keys = ("key-one", "key-two")
    public = create_app(make_settings(path, api_keys=keys, max_upload_mb=0.01))
    private = create_app(make_settings(path, api_keys=keys, public_probes=False))
    with serve(public) as public_url, serve(private, wait_ready=False) as private_url:
        yield public_url, private_url


def test_api_keys_are_required_when_set(keyed: tuple[str, str]) -> None:
    url, _ = keyed
    data = image_bytes(random_image(12, 12))
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic key-one"}]:
        response = http.post(f"{url}/correct", files={"image": ("a.png", data)}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in response.json()["detail"]
        assert response.headers["x-request-id"]
        assert "key-one" not in response.text
    assert post_image(url, data, Authorization="Bearer key-two") == 200
    assert post_image(url, data, Authorization="bearer  key-one") == 200
    # Refused before the body is read: no key and a too-large body give 401, not 413.
    big = image_bytes(random_image(100, 100))
    assert post_image(url, big) == 401
    assert post_image(url, big, Authorization="Bearer key-one") == 413
    assert http.get(f"{url}/openapi.json").status_code == 401
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert http.get(f"{url}{probe}").status_code == 200


def test_probes_can_be_protected_too(keyed: tuple[str, str]) -> None:
    _, url = keyed
    assert http.get(f"{url}/healthz").status_code == 401
    auth = {"Authorization": "Bearer key-one"}
    assert http.get(f"{url}/healthz", headers=auth).status_code == 200


def test_key_comparison() -> None:
    keys = [b"alpha", b"beta"]
    assert key_matches("beta", keys)
    assert not key_matches("bet", keys)
    assert not key_matches("", [b""])  # an empty key never opens the door
    assert not key_matches("betä", keys)


def test_cors_is_off_by_default_and_on_for_named_origins(server: str, checkpoint: Path) -> None:
    preflight = {"Origin": "https://photos.example", "Access-Control-Request-Method": "POST"}
    response = http.options(f"{server}/correct", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    plain = http.get(f"{server}/healthz", headers={"Origin": "https://photos.example"})
    assert "access-control-allow-origin" not in plain.headers
    app = create_app(make_settings(checkpoint, cors_origins=("https://photos.example",)))
    with serve(app) as url:
        allowed = http.options(f"{url}/correct", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://photos.example"
        other = http.options(
            f"{url}/correct", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("given", ["x" * 129, "<script>", "id with spaces", "ünïcode"])
def test_unsafe_request_ids_are_replaced(server: str, given: str) -> None:
    response = http.get(f"{server}/healthz", headers=[(b"X-Request-ID", given.encode())])
    returned = response.headers["x-request-id"]
    assert returned != given and re.fullmatch(r"[0-9a-f]{32}", returned)


def test_log_lines_carry_the_request_id_and_no_image_bytes(
    checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app")
    marker = b"PIXELS-4d61726b6572-PIXELS"
    app = create_app(make_settings(checkpoint, log_level="debug"))
    handler = logging.getLogger("app").handlers[0]
    assert "%(request_id)s" in str(handler.formatter._fmt)  # type: ignore[union-attr]
    with serve(app) as url:
        caplog.clear()
        for data in [image_bytes(random_image(8, 8)) + marker, marker, b"\x89PNG" + marker]:
            response = http.post(
                f"{url}/correct",
                files={"image": ("a.png", data)},
                headers={"X-Request-ID": "req-log-7"},
            )
            assert response.status_code in (200, 400)
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == "req-log-7"]
    assert len(mine) >= 3  # one line per request at least
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert marker.decode() not in text
