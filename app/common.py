"""Shared app state: cached resources, the hierarchy picker and run loading helpers."""
from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from app.jobs import JobRegistry
from app.projector import Projector
from core import Hierarchy, HierarchyError, bundled_hierarchies, load_bundled
from core.formats import parse_hierarchy
from core.runs import DEFAULT_ROOT, RunDir

RUNS_ROOT = Path(DEFAULT_ROOT)
UPLOADS = RUNS_ROOT / ".uploads"
UPLOAD_TYPES = ["json", "csv", "nwk", "newick", "tre", "tree", "txt", "npz", "pkl", "pickle", "xz"]
UPLOAD_LABEL = "Upload a hierarchy…"


@st.cache_resource
def _registry(root: str) -> JobRegistry:
    return JobRegistry(Path(root))


def job_registry() -> JobRegistry:
    """The process-wide registry of training threads for the current run store."""
    return _registry(str(RUNS_ROOT))


@st.cache_resource
def projector() -> Projector:
    """The server's UMAP projector. Its compile (half a minute of a core) waits until no training of this server
    runs on the CPU: measured on this 2-core machine, it overlapped the first trainings after start-up and took
    0.6–0.8 of a core from them."""
    jobs = job_registry()
    made = Projector()
    made.warm_up_when(lambda: jobs.running_on("cpu") == 0)
    return made


@st.cache_resource(max_entries=16)
def bundled(name: str) -> Hierarchy:
    return load_bundled(name)


@st.cache_resource(max_entries=16)
def uploaded(data: bytes, filename: str) -> Hierarchy:
    return parse_hierarchy(data, filename)


def choose_hierarchy(key: str = "hierarchy") -> tuple[Hierarchy, str] | None:
    """Sidebar picker: a bundled hierarchy or an upload. Returns (hierarchy, source) or None.

    ``source`` is what a RunConfig stores: a bundled name, or the path of the saved upload. The
    choice lives in session state so every page shows the same hierarchy.
    """
    names = list(bundled_hierarchies())
    options = names + [UPLOAD_LABEL]
    current = st.session_state.get(f"{key}_choice", "synthetic")
    choice = st.sidebar.selectbox("Hierarchy", options, index=options.index(current) if current in options else 0,
                                  key=f"_{key}_select")
    st.session_state[f"{key}_choice"] = choice
    if choice != UPLOAD_LABEL:
        hierarchy = bundled(choice)
        _badge(hierarchy, hierarchy.name)
        return hierarchy, choice
    file = st.sidebar.file_uploader("Hierarchy file", type=UPLOAD_TYPES, key=f"_{key}_upload",
                                    help="JSON tree, CSV parent,child edges, Newick, isa.txt, a distance matrix (.npz), or the "
                                         "field's pickles (nltk tree, distance dict .pkl.xz, label rows), read without running code")
    if file is None:
        saved = st.session_state.get(f"{key}_upload")
        if saved is None:
            st.info("Upload a hierarchy file in the sidebar, or pick a bundled one.")
            (st.session_state.get(BADGE_SLOT) or st.sidebar).caption(":material/account_tree: No hierarchy loaded yet.")
            return None
        data, filename = saved
    else:
        data, filename = file.getvalue(), file.name
    try:
        hierarchy = uploaded(data, filename)
    except HierarchyError as err:  # once, right under the uploader the user just used; the message names file and spot
        st.sidebar.error(f"Could not read this hierarchy. {err}", icon=":material/error:")
        st.info("No hierarchy loaded: the file in the sidebar could not be read (the message is under the uploader).",
                icon=":material/arrow_back:")
        (st.session_state.get(BADGE_SLOT) or st.sidebar).caption(f":material/account_tree: No hierarchy loaded "
                                                                 f"({filename} could not be read).")
        return None
    st.session_state[f"{key}_upload"] = (data, filename)
    _badge(hierarchy, f"{filename} (uploaded)")
    return hierarchy, str(_save_upload(data, filename))


BADGE_SLOT = "_hierarchy_badge_slot"


def hierarchy_badge(key: str = "hierarchy") -> None:
    """Name the hierarchy in use at the top of the sidebar, on every page: app/main.py calls this before the
    page runs (from session state, so an upload stays named after a page change has cleared the uploader);
    a page with the picker then rewrites it with the choice it just made."""
    st.session_state[BADGE_SLOT] = slot = st.sidebar.empty()
    choice = st.session_state.get(f"_{key}_select") or st.session_state.get(f"{key}_choice", "synthetic")
    saved = st.session_state.get(f"{key}_upload")
    try:
        if choice != UPLOAD_LABEL:
            _badge(bundled(choice), bundled(choice).name, slot)
        elif saved is not None:
            _badge(uploaded(*saved), f"{saved[1]} (uploaded)", slot)
        else:
            slot.caption(":material/account_tree: No hierarchy loaded yet.")
    except (HierarchyError, OSError, ValueError):
        slot.caption(":material/account_tree: No hierarchy loaded.")


def _badge(hierarchy: Hierarchy, title: str, slot=None) -> None:
    """'In use: <name> · K classes, height H' in the badge slot (or the sidebar when there is none)."""
    slot = slot or st.session_state.get(BADGE_SLOT) or st.sidebar
    slot.markdown(f":material/account_tree: **In use:** {title} · {hierarchy.num_classes:,} classes, "
                  f"height {hierarchy.height}")


def _save_upload(data: bytes, filename: str) -> Path:
    """Keep an uploaded hierarchy on disk so a training run can name it by path."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = UPLOADS / f"{digest}{Path(filename).suffix.lower()}"
    if not path.exists():
        UPLOADS.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def tree_labels(hierarchy: Hierarchy) -> tuple[list[int], list[str]]:
    """Class indices in tree order and their display labels."""
    order = hierarchy.tree_order().tolist()
    return order, [hierarchy.display(hierarchy.leaves[i]) for i in order]


def labelled_key(key: str, labels: list[str]) -> str:
    """A widget key that changes whenever an option's label changes.

    Streamlit keeps a keyed selectbox's selection as its label string, so when a label changes (a run
    goes from running to finished) the browser would keep showing the old one. Callers remember the
    choice by run name in ``st.session_state[key]`` and pass it as the default.
    """
    return f"{key}-{hashlib.sha1(chr(31).join(labels).encode()).hexdigest()[:10]}"


def run_label(run: RunDir) -> str:
    """'name · head · state' for run pickers; the state is RunDir.state() (a run whose process is gone
    reads "interrupted", never "running")."""
    try:
        head = run.config().frame.head
    except (OSError, ValueError):
        head = "?"
    meta = run.meta()  # a title and notes people gave the run (Compare page)
    title = f"{meta['title']} ({run.name})" if meta["title"] else run.name
    notes = f" · {meta['notes'][:40]}{'…' if len(meta['notes']) > 40 else ''}" if meta["notes"] else ""
    return f"{title} · {head} · {run.state()}{notes}"
