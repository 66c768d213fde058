"""Tiny server-side SVG charts: no JavaScript, no CDN, readable by screen readers (title + table)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def bar_chart(
    *,
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    width: int = 640,
    height: int = 180,
    color: str = "var(--accent)",
) -> SafeString:
    """Vertical bars, one per label; x labels thinned so they never overlap."""
    pad_l, pad_b, pad_t = 36, 22, 8
    n = max(len(values), 1)
    top = max(values, default=0) or 1
    plot_w, plot_h = width - pad_l - 4, height - pad_b - pad_t
    bw = plot_w / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="none"><title>{escape(title)}</title>'
    ]
    for frac in (0, 0.5, 1):
        y = pad_t + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">{_fmt(top * frac)}</text>'
        )
    step = max(1, n // 8)
    for i, (label, v) in enumerate(zip(labels, values, strict=False)):
        h = plot_h * (v / top)
        x = pad_l + i * bw
        parts.append(
            f'<rect x="{x + bw * 0.1:.1f}" y="{pad_t + plot_h - h:.1f}" width="{max(bw * 0.8, 1):.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(str(label))}: {_fmt(v)}</title></rect>'
        )
        if i % step == 0:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{height - 6}" text-anchor="middle" class="axis">'
                f"{escape(str(label))}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def stacked_bar(*, parts: Sequence[tuple[str, float, str]], title: str) -> SafeString:
    """One horizontal 100 % bar: (label, value, css colour) segments."""
    total = sum(v for _l, v, _c in parts) or 1
    x = 0.0
    out = [
        f'<svg class="chart stacked" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for label, v, color in parts:
        w = 100 * v / total
        out.append(
            f'<rect x="{x:.3f}" y="0" width="{w:.3f}" height="8" fill="{color}">'
            f"<title>{escape(label)}: {_fmt(100 * v / total)} %</title></rect>"
        )
        x += w
    out.append("</svg>")
    return mark_safe("".join(out))
