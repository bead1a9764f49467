"""What the Compare page shows: runs with their settings, seed groups as mean ± 95 % CI, the final-metrics
table with published reference rows, curves, CSV exports, and run management (title, notes, trash)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from app import plots
from app import common
from app.live_chart import live_chart
from core import list_runs, schema, seeds
from core.published import PUBLISHED, SOURCE
from core.runs import RunDir, RunSettings

TABLE_KEYS = ("top1", "mistake_severity", "hdist@1", "hdist@5", "hdist@20", "frame_dev_mean", "haf_dev_mean",
              "nc1", "self_duality", "nc4_agreement", "top1@train", "frame_dev_mean@train", "nc1@train")
SETTINGS = {"dataset": "dataset", "hierarchy": "hierarchy", "head": "head", "gamma": "γ", "alpha": "α",
            "lr": "lr", "epochs": "epochs", "seed": "seed"}
SIDE_BY_SIDE = 4  # runs whose heatmaps and histograms are drawn next to each other


@dataclass(frozen=True)
class RunInfo:
    """A readable run: its directory, title, settings, comparability and seed-group keys, metrics rows."""

    run: RunDir
    title: str
    settings: RunSettings
    comparable: tuple[str, str]
    seed_group: str
    rows: list[dict]

    @property
    def scope(self) -> str:
        return f"{self.settings.dataset} · {self.settings.hierarchy}"


RUN_FILES = ("config.json", "hierarchy.json", "metrics.jsonl", "meta.json")  # what a RunInfo is read from


def _stamps(run: RunDir) -> tuple:
    out = []
    for name in RUN_FILES:
        try:
            stat = (run.path / name).stat()
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


@st.cache_resource(max_entries=512, show_spinner=False)
def _run_info(path: str, stamps: tuple) -> RunInfo | str:
    """A run's RunInfo, or why it cannot be compared; read once per change of one of its RUN_FILES."""
    run = RunDir(Path(path))
    try:
        return RunInfo(run, run.title(), run.settings(), run.comparable_key(), run.seed_group(), run.metrics())
    except (OSError, ValueError, KeyError) as err:  # a damaged or foreign config.json
        return f"Skipping {run.name}: its config.json cannot be read ({err})."


def load_runs() -> tuple[list[RunInfo], list[str]]:
    """Every run of the store that can be compared, and a message for each that cannot. A page run
    stats each run's few files and parses only those that changed (shared objects: do not mutate)."""
    infos, problems = [], []
    for run in list_runs(common.RUNS_ROOT):  # the store is read at call time (tests move it)
        info = _run_info(str(run.path), _stamps(run))
        (problems if isinstance(info, str) else infos).append(info)
    return infos, problems


def reload(infos: list[RunInfo]) -> list[RunInfo]:
    """The same runs as read now (those whose files changed re-parsed; unreadable ones left out)."""
    fresh = [_run_info(str(info.run.path), _stamps(info.run)) for info in infos]
    return [info for info in fresh if not isinstance(info, str)]


def scopes(infos: list[RunInfo]) -> dict[tuple[str, str], str]:
    """Comparable groups (dataset, hierarchy) → label, in the order runs appear."""
    return {i.comparable: i.scope for i in infos}


def seed_groups(infos: list[RunInfo], group: bool) -> list[list[RunInfo]]:
    """Runs that differ only by seed, together (or each alone when ``group`` is False), in order."""
    if not group:
        return [[i] for i in infos]
    out: dict[str, list[RunInfo]] = {}
    for info in infos:
        out.setdefault(info.seed_group, []).append(info)
    return [sorted(members, key=lambda m: m.settings.seed) for members in out.values()]


def _name(members: list[RunInfo]) -> str:
    first = members[0]
    if len(members) == 1:
        return first.title
    return f"{first.settings.head} γ={first.settings.gamma:g} α={first.settings.alpha:g} ({len(members)} seeds)"


def final_table(infos: list[RunInfo], group: bool, reference: bool) -> pd.DataFrame:
    """One row per run (or seed group: means, with '± 95 % CI' columns): name, numbers, then the settings;
    published rows appended, named and sourced as such, when ``reference``."""
    records = []
    present = [k for k in TABLE_KEYS if any(r.get(k) is not None for i in infos for r in i.rows[-1:])]
    for members in seed_groups(infos, group):
        s = members[0].settings
        finals = [m.rows[-1] for m in members if m.rows]
        record = {"run": _name(members), "n": len(finals)}
        for key in present:
            mean, half, _ = seeds.mean_ci([r.get(key) for r in finals])
            record[key] = mean
            if group and len(members) > 1:
                record[f"{key} ±"] = half
        record.update({label: getattr(s, f) for f, label in SETTINGS.items()})
        record.update({"seed": ", ".join(str(m.settings.seed) for m in members),
                       "epoch": max((r["epoch"] for r in finals), default=None), "source": "this app"})
        records.append(record)
    if reference:
        for row in PUBLISHED:
            records.append({"run": f"published · {row.dataset} · {row.method}", "n": 5, **row.metrics(),
                            "dataset": row.dataset, "hierarchy": f"{row.levels} levels, K={row.num_classes}",
                            "head": row.method, "source": SOURCE})
    frame = pd.DataFrame.from_records(records)
    text = [c for c in ("dataset", "hierarchy", "head", "seed") if c in frame]
    frame[text] = frame[text].fillna("")  # reference rows have no settings of ours: blank, not "None"
    return frame


MISSING = "—"
MISSING_HELP = (f"{MISSING}: not recorded by that run (e.g. hdist@20 needs more than 20 classes, “@train” "
                "statistics a training subsample, and runs from older versions lack newer statistics); "
                "“±” only for seed groups of two or more runs; published rows carry only the paper's metrics.")


def table_config(frame: pd.DataFrame) -> dict:
    """Column headers and help from the metrics schema; missing values are shown as MISSING (the page's
    ``placeholder``), not as a grey "None", and the help says why a value can be missing."""
    config = {}
    for column in frame.columns:
        key = column.removesuffix(" ±")
        if key in schema.METRICS:
            m = schema.metric(key)
            name = m.header + (" ±" if column.endswith("±") else "")
            config[column] = st.column_config.NumberColumn(name, help=f"{m.help or m.title}. {MISSING_HELP}",
                                                           format="%.3f")
    return config


def curve_series(infos: list[RunInfo], key: str, group: bool, window: int) -> list[dict]:
    """Series for :func:`app.plots.band_curves`: a band over seeds for groups, a line for single runs."""
    series = []
    for members in seed_groups(infos, group):
        band = seeds.curve_band([m.rows for m in members], key)
        if not len(band["epochs"]):
            continue
        entry = {"name": _name(members), "epochs": band["epochs"].tolist(), "n": len(members),
                 "mean": plots.smooth(band["mean"], window)}
        if len(members) > 1:
            entry["low"], entry["high"] = plots.smooth(band["low"], window), plots.smooth(band["high"], window)
        series.append(entry)
    return series


def table_csv(table: pd.DataFrame) -> bytes:
    """The final-metrics table as CSV (UTF-8)."""
    return table.to_csv(index=False).encode()


def metrics_csv(infos: list[RunInfo]) -> bytes:
    """Every metrics row of every run, one CSV (run directory, title and settings first)."""
    rows = [{"run": i.run.name, "title": i.title, **{k: getattr(i.settings, k) for k in SETTINGS}, **row}
            for i in infos for row in i.rows]
    return pd.DataFrame.from_records(rows).to_csv(index=False).encode()


def side_by_side(infos: list[RunInfo], group: bool) -> None:
    """Class-mean cosine heatmaps and mistake histograms of the first runs (one per seed group when
    ``group``), next to each other."""
    from app import collapse_views as cv
    from core import mistakes

    shown = [members[0] for members in seed_groups([i for i in infos if i.run.snapshot_epochs()], group)]
    shown = shown[:SIDE_BY_SIDE]
    if not shown:
        return
    columns = st.columns(len(shown))
    for column, info in zip(columns, shown):
        hierarchy = cv.hierarchy_of(info.run)
        epoch = info.run.snapshot_epochs()[-1]
        means = cv.mean_heatmaps(info.run, hierarchy, epoch)[0].to_dict()  # a copy: the cached one is shared
        layout = means["layout"]  # changed as a dict: a go.Figure copy re-validates every cell (8 of 9 ms)
        for axis in ("xaxis", "yaxis"):
            layout[axis] = {**layout.get(axis, {}), "showticklabels": False}
        layout.update(title={"text": f"{info.title} · epoch {epoch}"}, height=300)
        live_chart(means, key=f"side_means_{info.run.name}", container=column)
        at = cv.outcomes(info.run, epoch, crm=False)
        counts = mistakes.height_counts(at.labels, at.predictions, hierarchy.distance_matrix())
        if counts[1:].sum() == 0:  # an empty histogram would look like a drawing failure
            column.info(f"No mistakes at epoch {epoch} ({counts[0]} images, all correct).")
            continue
        hist = plots.mistake_histogram(counts, "Mistakes by LCA height").update_layout(height=260)
        live_chart(hist.update_xaxes(title="LCA height"), key=f"side_hist_{info.run.name}", container=column)


def manage(infos: list[RunInfo]) -> None:
    """Name, annotate and delete (move to the store's trash, after a confirmation) a run."""
    names = [i.run.name for i in infos]
    index = st.selectbox("Run", range(len(infos)), format_func=lambda j: f"{infos[j].title} ({names[j]})",
                         key="manage_run")
    info = infos[index]
    meta = info.run.meta()
    title = st.text_input("Title", value=meta["title"], key=f"title_{info.run.name}",
                          placeholder=info.run.name, help="Shown in every run picker; the folder keeps its name.")
    notes = st.text_area("Notes", value=meta["notes"], key=f"notes_{info.run.name}", height=80)
    save, delete = st.columns([1, 1])
    if save.button("Save title and notes", key="save_meta"):
        info.run.set_meta(title=title, notes=notes)
        st.toast(f"Saved {title or info.run.name}")
        st.rerun()
    pending = st.session_state.get("confirm_delete")
    if delete.button("Delete…", key="delete_run", disabled=info.run.live(),
                     help="Moves the run to the .trash folder of the run store." +
                          (" Stop the run first." if info.run.live() else "")):
        st.session_state["confirm_delete"] = info.run.name
        st.rerun()
    if pending == info.run.name:
        st.warning(f"Move **{info.title}** ({info.run.name}) to the trash folder of the run store?")
        yes, no = st.columns([1, 1])
        if yes.button("Yes, move it to the trash", key="confirm_delete_yes", type="primary"):
            target = info.run.move_to_trash()
            st.session_state.pop("confirm_delete", None)
            st.toast(f"Moved to {target}")
            st.rerun()
        if no.button("Cancel", key="confirm_delete_no"):
            st.session_state.pop("confirm_delete", None)
            st.rerun()
