"""SPEC section 2 quality metrics between a ground-truth photo and a corrected one (8-bit RGB)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

PSNR_CAP_DB = 60.0
# SSIM as Wang et al. 2004: an 11x11 Gaussian window of sigma 1.5, data range 1.0.
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
C1 = (0.01 * 1.0) ** 2
C2 = (0.03 * 1.0) ** 2
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
# sRGB (IEC 61966-2-1) primaries to CIE XYZ; D65 white is their sum (0.95046, 1, 1.08875),
# so that sRGB white lands exactly on L* = 100, a* = b* = 0.
SRGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
D65_WHITE = SRGB_TO_XYZ.sum(axis=1)


@dataclass(frozen=True)
class Scores:
    """The six SPEC metrics for one image pair, or their mean over a set."""

    psnr: float
    ssim: float
    lum: float
    con: float
    sat: float
    delta_e00: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


_FIELDS = tuple(f.name for f in fields(Scores))


def _check_pair(reference: np.ndarray, image: np.ndarray) -> None:
    if reference.shape != image.shape or reference.ndim != 3 or reference.shape[2] != 3:
        raise ValueError(
            f"expected two (H, W, 3) images of the same size, got {reference.shape} "
            f"and {image.shape}"
        )
    if reference.dtype != np.uint8 or image.dtype != np.uint8:
        raise ValueError("expected uint8 images")
    if reference.size == 0:
        raise ValueError("expected non-empty images")


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB over all pixels and channels, capped at 60 dB."""
    diff = reference.astype(np.float64) - image.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * float(np.log10(255.0**2 / mse)))


def _gaussian_taps() -> np.ndarray:
    offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    taps = np.exp(-(offsets**2) / (2 * SSIM_SIGMA**2))
    return np.asarray(taps / taps.sum())


_TAPS = _gaussian_taps()


def _blur_axis(planes: np.ndarray, axis: int) -> np.ndarray:
    """Unpadded 1-D Gaussian along `axis`; the window is symmetric, so pairs share a multiply."""
    n, r = planes.shape[axis], SSIM_RADIUS

    def part(start: int) -> np.ndarray:
        index = [slice(None)] * planes.ndim
        index[axis] = slice(start, n - 2 * r + start)
        return planes[tuple(index)]

    out = _TAPS[r] * part(r)
    for i in range(r):
        out += _TAPS[i] * (part(i) + part(2 * r - i))
    return np.asarray(out)


def _window_mean(planes: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means of (N, H, W) planes, same size as the input."""
    r = SSIM_RADIUS
    # 'Same'-size maps, mirror-padded without repeating the edge pixel (torch's 'reflect'): this
    # reproduces SPEC's baseline table; skimage's cropped 'valid' region reads ~0.0004 lower.
    padded = np.pad(planes, ((0, 0), (r, r), (r, r)), mode="reflect")
    return _blur_axis(_blur_axis(padded, 1), 2)


@dataclass(frozen=True)
class _Moments:
    mu_x: np.ndarray
    mu_y: np.ndarray
    var_x: np.ndarray
    var_y: np.ndarray
    cov: np.ndarray


def _moments(x: np.ndarray, y: np.ndarray) -> _Moments:
    """Local means, variances and covariance of (H, W, C) float planes, one per channel."""
    # float64 throughout: in clipped (flat) areas the variance E[x^2] - mu^2 must come out ~0,
    # and float32 residue there is amplified by the sqrt of the contrast map (con moves 0.01).
    tx, ty = np.moveaxis(x, 2, 0), np.moveaxis(y, 2, 0)
    # One filtering pass over all five quantities keeps the per-image overhead small.
    means = _window_mean(np.concatenate([tx, ty, tx * tx, ty * ty, tx * ty]))
    mu_x, mu_y, xx, yy, xy = np.split(means, 5)
    return _Moments(
        mu_x=mu_x,
        mu_y=mu_y,
        # Population (not sample) variances, as in Wang et al.'s Gaussian-weighted form.
        var_x=np.maximum(xx - mu_x * mu_x, 0.0),
        var_y=np.maximum(yy - mu_y * mu_y, 0.0),
        cov=xy - mu_x * mu_y,
    )


def _ssim_map(m: _Moments) -> np.ndarray:
    luminance = (2 * m.mu_x * m.mu_y + C1) / (m.mu_x**2 + m.mu_y**2 + C1)
    return np.asarray(luminance * (2 * m.cov + C2) / (m.var_x + m.var_y + C2))


def _luminance_map(m: _Moments) -> np.ndarray:
    return np.asarray((2 * m.mu_x * m.mu_y + C1) / (m.mu_x**2 + m.mu_y**2 + C1))


def _contrast_map(m: _Moments) -> np.ndarray:
    return np.asarray((2 * np.sqrt(m.var_x * m.var_y) + C2) / (m.var_x + m.var_y + C2))


def _unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) / 255.0


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray((rgb @ LUMA_WEIGHTS)[..., None])


def _saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation (max - min) / max, 0 where max = 0, as an (H, W, 1) plane."""
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    sat = np.divide(high - low, high, out=np.zeros_like(high), where=high > 0)
    return np.asarray(sat[..., None])


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """Mean SSIM over the RGB channels (each channel's map averaged, then the channels)."""
    _check_pair(reference, image)
    return float(_ssim_map(_moments(_unit(reference), _unit(image))).mean())


def luminance_similarity(reference: np.ndarray, image: np.ndarray) -> float:
    """100 x mean of SSIM's luminance map on luma."""
    _check_pair(reference, image)
    m = _moments(_luma(_unit(reference)), _luma(_unit(image)))
    return 100.0 * float(_luminance_map(m).mean())


def contrast_similarity(reference: np.ndarray, image: np.ndarray) -> float:
    """100 x mean of SSIM's contrast map on luma."""
    _check_pair(reference, image)
    m = _moments(_luma(_unit(reference)), _luma(_unit(image)))
    return 100.0 * float(_contrast_map(m).mean())


def saturation_similarity(reference: np.ndarray, image: np.ndarray) -> float:
    """100 x SSIM of the HSV saturation channel."""
    _check_pair(reference, image)
    m = _moments(_saturation(_unit(reference)), _saturation(_unit(image)))
    return 100.0 * float(_ssim_map(m).mean())


def srgb_to_lab(image: np.ndarray) -> np.ndarray:
    """8-bit sRGB (H, W, 3) to CIELAB (D65), float64."""
    c = _unit(image)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (linear @ SRGB_TO_XYZ.T) / D65_WHITE
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return np.asarray(lab)


def delta_e00_lab(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 difference between CIELAB arrays (..., 3), element-wise (Sharma et al. 2005)."""
    lab1, lab2 = np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    # atan2(0, 0) is 0, which is the hue the standard assigns to neutral colours.
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    chroma_product = c1p * c2p
    neutral = chroma_product == 0

    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(neutral, 0.0, dh)
    dL, dC = L2 - L1, c2p - c1p
    dH = 2 * np.sqrt(chroma_product) * np.sin(np.radians(dh / 2))

    L_bar, c_bar_p = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180,
        h_sum / 2,
        np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
    )
    h_bar = np.where(neutral, h_sum, h_bar)

    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2 * np.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    s_l = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    term_l, term_c, term_h = dL / s_l, dC / s_c, dH / s_h
    return np.asarray(np.sqrt(term_l**2 + term_c**2 + term_h**2 + r_t * term_c * term_h))


def delta_e00(reference: np.ndarray, image: np.ndarray) -> float:
    """Mean CIEDE2000 difference over the pixels of two 8-bit sRGB images."""
    _check_pair(reference, image)
    return float(delta_e00_lab(srgb_to_lab(reference), srgb_to_lab(image)).mean())


def score(reference: np.ndarray, image: np.ndarray) -> Scores:
    """All six SPEC metrics for one pair, sharing the conversions they have in common."""
    _check_pair(reference, image)
    ref, img = _unit(reference), _unit(image)
    luma = _moments(_luma(ref), _luma(img))
    return Scores(
        psnr=psnr(reference, image),
        ssim=float(_ssim_map(_moments(ref, img)).mean()),
        lum=100.0 * float(_luminance_map(luma).mean()),
        con=100.0 * float(_contrast_map(luma).mean()),
        sat=100.0 * float(_ssim_map(_moments(_saturation(ref), _saturation(img))).mean()),
        delta_e00=float(delta_e00_lab(srgb_to_lab(reference), srgb_to_lab(image)).mean()),
    )


def mean_scores(scores: list[Scores]) -> Scores:
    """Mean of each metric over a set of images."""
    if not scores:
        raise ValueError("no scores to average")
    return Scores(**{k: float(np.mean([s.as_dict()[k] for s in scores])) for k in _FIELDS})
