"""The demo page: static HTML + JavaScript for POST /correct and /simulate-overexposure."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Only these files are served: a fixed table, so no request path ever reaches the file system.
_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def demo_page() -> FileResponse:
    """The demo page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


@router.get("/static/{name}")
def demo_asset(name: str) -> FileResponse:
    """A script or style sheet of the demo page."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no such file; served: {sorted(_ASSETS)}")
    return FileResponse(STATIC_DIR / name, media_type=media_type)
