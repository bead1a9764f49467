"""Train: configure a run, start it (queued when the device is busy), follow it live, read its results."""
import time

import streamlit as st

from app import plots
from app.common import RUNS_ROOT, choose_hierarchy, job_registry
from app.live import duration, live_section, metrics, progress, watch
from app.live_chart import live_chart
from app.train_form import remembered, run_form
from app.train_results import final_metrics
from core import RunDir
from core.config import ConfigError

st.title("Train")
picked = choose_hierarchy()
if picked is None:
    st.stop()
jobs = job_registry()
remembered()  # restore this browser's last settings (URL query parameters) before the widgets are drawn

choices = run_form(*picked)
start = st.button("Start training", type="primary", key="start")
if start:
    try:
        st.session_state["active_run"] = jobs.submit(choices.config(), owner=choices.owner)
        st.query_params["run"] = st.session_state["active_run"]
    except ConfigError as err:
        st.error(f"Invalid settings: {err}")
    except OSError as err:  # e.g. the run store is not writable
        st.error(f"Could not create the run directory: {err}")

# The run this page follows: the one started here, else the one in the URL (a reload), else the newest job.
name = st.session_state.get("active_run") or st.query_params.get("run") \
    or next((j.run for j in jobs.jobs() if j.position is None), None)
run = RunDir(RUNS_ROOT / name) if name and (RUNS_ROOT / name / "config.json").exists() else None
if run is None:
    st.info("Start a run to follow it here. Every training of this server, from every browser, is on the Jobs "
            "page; runs started from the CLI appear on Collapse and Compare.")
    st.stop()
st.session_state["active_run"] = run.name

state = run.state()
head = st.columns([6, 1], vertical_alignment="center")
head[0].markdown(f"**{run.name}** — {state}")
if jobs.owns(run.name) and head[1].button("Remove" if state == "queued" else "Stop", key="stop", width="stretch"):
    jobs.stop(run.name)
    st.rerun()
if state in ("stopped", "interrupted") and head[1].button("Resume", key="resume", width="stretch",
                                                          help="Continue from the last saved epoch"):
    try:
        jobs.resume(run.name, owner=choices.owner)
        st.rerun()
    except (ValueError, OSError) as err:
        st.error(f"Cannot resume {run.name}: {err}")
status = run.status()
if state == "failed":
    st.error(f"Training failed: {status.get('error')}")
elif state == "interrupted":
    st.warning("The process training this run is gone (the server was stopped or crashed); what it wrote is "
               "kept. Resume continues from the last saved epoch.")
elif state == "queued":
    place = next((j.position for j in jobs.jobs() if j.run == run.name), None)
    st.info(f"Waiting for the device: number {place or '?'} in the queue (see the Jobs page).")


def times(run: RunDir) -> None:
    """Progress bar and times as of the run's latest write (drawn once per change, not every second: redrawing
    them every second cost the training more than everything else the page does); the expected end is a clock
    time, which stays true between epochs."""
    now = progress(run)
    if now.state == "running" and not metrics(run):
        st.progress(0.0, text="preparing the data and evaluating the untrained model (epoch 0)…")
    elif now.epochs:
        st.progress(now.fraction, text=f"epoch {now.epoch} of {now.epochs} evaluated")
    c1, c2, c3 = st.columns(3)
    c1.metric("Elapsed", duration(now.elapsed_s), help="from the start of training to the latest evaluated epoch"
              if now.state == "running" else None)
    c2.metric("Time per epoch", duration(now.per_epoch_s))
    ends = (f"ends ≈ {time.strftime('%H:%M:%S', time.localtime(time.time() + now.remaining_s))}"
            if now.state == "running" and now.remaining_s is not None else None)
    c3.metric("Time remaining", duration(now.remaining_s) if now.state == "running" else "—", delta=ends,
              delta_color="off", delta_arrow="off")


@live_section
def follow(run: RunDir) -> None:
    """What changes every epoch: rerun alone when the run writes (its state changing reruns the page)."""
    times(run)
    watch(run)
    rows = metrics(run)
    if not rows:
        return
    if run.state() != "running":
        final_metrics(rows)
    live_chart(plots.training_panels(rows, [
        ("Top-1 accuracy (%)", ["top1"]),
        ("Mistake severity and hierarchical distance", ["mistake_severity", "hdist@1", "hdist@5"]),
        ("Training loss", ["train_loss", "train_ce", "train_cos"]),
        ("Frame deviation of class means", ["frame_dev_mean", "frame_dev_std"])]), key="curves")


follow(run)
