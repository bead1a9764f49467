"""The plotly figures an AppTest page drew, whether with ``st.plotly_chart`` or as a live chart (app/live_chart.py)."""
from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest


def chart_key(element) -> str:
    """The ``key`` a chart was drawn with (element ids end with it: ``$$ID-<hash>-<key>``)."""
    return element.proto.id.split("-", 2)[-1]


def payload_bytes(at: AppTest) -> int:
    """What the page's plotly charts send the browser, in bytes (a live chart's figure travels inside its data)."""
    return (sum(len(element.proto.spec) for element in at.get("plotly_chart"))
            + sum(len(element.proto.json) for element in at.get("bidi_component")))


def plotly_specs(at: AppTest) -> dict[str, dict]:
    """Every plotly figure on the page, as plotly.js receives it, by chart key, in page order."""
    specs = {}
    for element in at.get("plotly_chart"):
        specs[chart_key(element)] = json.loads(element.proto.spec)
    for element in at.get("bidi_component"):
        if element.proto.component_name == "hafs_live_chart":
            specs[chart_key(element)] = json.loads(json.loads(element.proto.json)["figure"])
    return specs
