"""An SVG of the soak's samples: one panel per measure (RSS, open descriptors, open circuits,
queued cells), one line per process, minutes on the x axis, the end of the warm-up marked.
Plain SVG text; no plotting library."""
from __future__ import annotations

from html import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    step = 10 ** len(str(int(v))) / 10
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * step:
            return m * step
    return v


def soak_svg(stamps: list[float], series: dict[str, list], panels: list[tuple[str, str, callable]],
             warmup_s: float, title: str, ctor_in_first: dict[str, list] | None = None) -> str:
    """stamps: seconds of each sample; series: process → samples (dicts or None); panels:
    (key, heading, value(sample) → float | None)."""
    width, ph, left, top, gap = 900, 190, 70, 40, 50
    height = top + len(panels) * (ph + gap) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>']
    x_max = max(stamps[-1] if stamps else 1, 1) / 60
    plot_w = width - left - 170

    def x_of(sec: float) -> float:
        return left + plot_w * (sec / 60) / x_max

    for pi, (key, heading, value) in enumerate(panels):
        y0 = top + pi * (ph + gap)
        lines = dict(series)
        if pi == 0 and ctor_in_first:
            lines.update(ctor_in_first)
        vals = [value(s) for ss in lines.values() for s in ss if s is not None and value(s) is not None]
        y_max = _nice_max(max(vals) if vals else 1)
        out.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{escape(heading)}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{ph}" fill="none" stroke="#444"/>')
        for t in range(5):
            v = y_max * t / 4
            y = y0 + ph - ph * t / 4
            out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
        step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 1e9) if x_max / s <= 10)
        m = 0.0
        while m <= x_max + 1e-9:
            out.append(f'<text x="{x_of(m * 60):.1f}" y="{y0 + ph + 14}" text-anchor="middle">{m:g}</text>')
            m += step
        out.append(f'<text x="{left + plot_w / 2}" y="{y0 + ph + 28}" text-anchor="middle">minutes</text>')
        if 0 < warmup_s < (stamps[-1] if stamps else 0):
            x = x_of(warmup_s)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y0}" y2="{y0 + ph}" stroke="#999" stroke-dasharray="4 3"/>')
            out.append(f'<text x="{x + 3:.1f}" y="{y0 + 12}" fill="#777">warm-up ends</text>')
        for li, (name, ss) in enumerate(lines.items()):
            pts = [(x_of(stamps[i]), value(s)) for i, s in enumerate(ss) if i < len(stamps) and s is not None
                   and value(s) is not None]
            if not pts:
                continue
            color = COLORS[li % len(COLORS)]
            dash = ' stroke-dasharray="5 3"' if ctor_in_first and name in ctor_in_first and pi == 0 else ""
            path = " ".join(f"{x:.1f},{y0 + ph - ph * min(v, y_max) / y_max:.1f}" for x, v in pts)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{path}"/>')
            if pi == 0 or li < len(series):
                ly = y0 + 14 + 14 * li
                out.append(f'<line x1="{left + plot_w + 10}" x2="{left + plot_w + 30}" y1="{ly - 4}" y2="{ly - 4}" '
                           f'stroke="{color}" stroke-width="2"{dash}/>')
                out.append(f'<text x="{left + plot_w + 35}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
