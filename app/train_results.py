"""A finished (or stopped) run's results as numbers: the last evaluated epoch against epoch 0."""
from __future__ import annotations

import streamlit as st

from core.schema import format_value, metric

FINAL_KEYS = ("top1", "mistake_severity", "hdist@1", "hdist@5", "frame_dev_mean")


def final_metrics(rows: list[dict]) -> None:
    """One st.metric per key present: the last row's value, its change from epoch 0 coloured by whether
    that change is an improvement (lower is better for severity, distances and deviation)."""
    first, last = rows[0], rows[-1]
    keys = [k for k in FINAL_KEYS if last.get(k) is not None]
    if not keys:
        return
    st.markdown(f"**Results at epoch {last.get('epoch', len(rows) - 1)}** (change from epoch 0, the untrained "
                "network)")
    for column, key in zip(st.columns(len(keys)), keys):
        m = metric(key)
        start = first.get(key)
        delta = None if start is None else last[key] - start
        column.metric(m.label, format_value(key, last[key]),
                      delta=None if delta is None else f"{delta:+.3f}".rstrip("0").rstrip("."),
                      delta_color="inverse" if m.lower_is_better else "normal", help=m.help or None)
