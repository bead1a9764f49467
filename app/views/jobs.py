"""Jobs: every training of this server, from every browser session, with its queue and controls."""
import streamlit as st

from app.common import RUNS_ROOT, job_registry
from app.live import duration, progress, state_badge, watch
from core import RunDir, list_runs

st.title("Jobs")
jobs = job_registry()
listed = jobs.jobs()
ours = {job.run for job in listed}
# Trainings this server does not run (the CLI, another server on the same run store) that are live now.
others = [run for run in list_runs(RUNS_ROOT)[:200] if run.name not in ours and run.live()]
runs = [RunDir(RUNS_ROOT / job.run) for job in listed] + others
st.caption(f"At most {jobs.max_per_device} training(s) per device at a time; later Starts wait in the queue, in "
           "order. Stop takes effect after the current batch; Remove takes a queued run out of the queue.")
if not runs:
    st.info("No trainings on this server yet. Start one on the Train page.")
    watch(extra=lambda: jobs.version, pending=True)  # a Start in any browser shows up here
    st.stop()


def table() -> None:
    """One row per run; redrawn every second while something is live (elapsed and remaining move)."""
    header = st.columns([4, 2, 2, 3, 2, 2, 2, 1.8])
    for column, title in zip(header, ["Run", "Who", "State", "Progress", "Elapsed", "Per epoch", "Remaining", ""]):
        column.markdown(f"**{title}**")
    owners = {job.run: job for job in listed}
    for run in runs:
        job = owners.get(run.name)
        event = jobs.latest(run.name)
        batch = (event.epoch, event.step, event.steps) if event is not None and event.kind == "batch" else None
        now = progress(run, batch)
        cells = st.columns([4, 2, 2, 3, 2, 2, 2, 1.8], vertical_alignment="center")
        cells[0].markdown(f"`{run.name}`" + ("" if job else " *(not started here)*"))
        cells[1].write((job.owner if job else run.status().get("owner", "")) or "—")
        place = f" #{job.position}" if job is not None and job.position else ""
        cells[2].markdown(state_badge(now.state) + place)
        cells[3].progress(now.fraction, text=f"epoch {now.epoch}/{now.epochs}")
        cells[4].write(duration(now.elapsed_s))
        cells[5].write(duration(now.per_epoch_s))
        cells[6].write(duration(now.remaining_s))
        if job is not None and now.state in ("queued", "running"):
            label = "Remove" if job.position else "Stop"  # the queue knows before the run's files say "running"
            if cells[7].button(label, key=f"stop_{run.name}", width="stretch"):
                jobs.stop(run.name)
                st.rerun()


# Rerun when a live run writes something or the queue changes (a Start in any browser, a job ending); runs that
# ended are not polled.
watch(*[run for run in runs if run.live()], extra=lambda: jobs.version, pending=True, draw=table)
