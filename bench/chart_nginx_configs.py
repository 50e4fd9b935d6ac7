#!/usr/bin/env python3
"""The chart of a bench_nginx_configs.py run: for each nginx configuration and concurrency,
keycloak-fcgi's /protected next to the do-nothing libfcgi floor, 2xx/s (bars) with p50 and p99
written on each bar, and POST /login next to the provider's own token endpoint.

    python3 bench/chart_nginx_configs.py [bench/results/nginx_configs.json] [--out PNG]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, nargs="?", default=benchlib.RESULTS / "nginx_configs.json")
    parser.add_argument("--out", type=Path, help="the PNG (default: next to the report, .png)")
    args = parser.parse_args()
    benchlib.ensure_requirements()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(args.report.read_text())
    configs = report["configs"]
    rows: list[tuple[str, dict, str]] = []
    for config, data in configs.items():
        targets = data["targets"]
        for connections in report["settings"]["connections"]:
            for kind, color in (("floor", "#bcbd22"), ("protected", "#1f77b4")):
                key = f"{config}:{kind}@c{connections}"
                if key in targets:
                    label = f"{config} · {'floor (libfcgi, 64 threads)' if kind == 'floor' else '/protected'} · -c{connections}"
                    rows.append((label, targets[key], color))
        login = targets.get(f"{config}:login@c{report['settings']['login_connections']}")
        if login:
            rows.append((f"{config} · POST /login · -c{report['settings']['login_connections']}", login, "#17becf"))
    provider = report.get("provider")
    if provider:
        rows.append((f"provider token endpoint (no nginx) · -c{report['settings']['login_connections']}", provider, "#2ca02c"))

    figure, axis = plt.subplots(figsize=(11, 1.2 + 0.38 * len(rows)))
    labels = [label for label, _, _ in rows][::-1]
    values = [row["ok_rps"] for _, row, _ in rows][::-1]
    bars = axis.barh(labels, values, color=[color for _, _, color in rows][::-1])
    axis.set_xscale("log")
    axis.set_xlim(min(values) / 2, max(values) * 8)
    axis.set_xlabel("2xx answers/s (median of the rounds, log scale)")
    for bar, (_, row, _) in zip(bars, rows[::-1]):
        axis.text(bar.get_width() * 1.08, bar.get_y() + bar.get_height() / 2,
                  f"{row['ok_rps']:,.0f}/s · p50 {row['p50_ms']:.1f} ms · p99 {row['p99_ms']:.1f} ms",
                  va="center", fontsize=8)
    axis.tick_params(axis="y", labelsize=8)
    axis.grid(axis="x", which="major", alpha=0.3)
    settings = report["settings"]
    axis.set_title(f"keycloak-fcgi (FCGI_WORKERS {sorted(set(settings['workers'].values()))}) vs the libfcgi floor behind "
                   f"three nginx configurations\nTLS, 2 cores, {settings['rounds']} × {settings['duration_s']} s, "
                   f"{report['started'][:16].replace('T', ' ')} UTC", loc="left", fontsize=9)
    figure.tight_layout()
    out = args.out or args.report.with_suffix(".png")
    figure.savefig(out, dpi=110)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
