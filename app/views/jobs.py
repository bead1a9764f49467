"""Jobs: every training of this server, from every browser session, with its queue and controls."""
import streamlit as st

from app.common import RUNS_ROOT, job_registry
from app.live import duration, live_section, progress, state_badge, watch
from core import RunDir, list_runs

st.title("Jobs")
jobs = job_registry()
listed = jobs.jobs()
owners = {job.run: job for job in listed}
# Trainings this server does not run (the CLI, another server on the same run store) that are live now.
others = [run for run in list_runs(RUNS_ROOT)[:200] if run.name not in owners and run.live()]
runs = [RunDir(RUNS_ROOT / job.run) for job in listed] + others
st.caption(f"At most {jobs.max_per_device} training(s) per device at a time; later Starts wait in the queue, in "
           "order. Stop takes effect after the current batch; Remove takes a queued run out of the queue.")
if not runs:
    st.info("No trainings on this server yet. Start one on the Train page.")
    watch(page_extra=lambda: jobs.version, pending=True)  # a Start in any browser shows up here
    st.stop()


def _cell(text: str) -> str:
    """Free text (a name typed on the form) as one Markdown table cell: no markup, no column break."""
    escaped = "".join("\\" + ch if ch in "\\`*_[]<>#|~:$" else ch for ch in text.replace("\n", " "))
    return escaped or "—"


@live_section
def table() -> None:
    """One Markdown table (a single element: the browser never shows half a row and its cost stays one element
    however many runs are listed), drawn once per change: times are as of the runs' latest writes. Rerun alone when
    a live run writes; the whole page when the queue changes (a Start in any browser, a job ending) or a state does.
    Nothing is redrawn between changes (a button redrawn every second under load can swallow its click)."""
    lines = ["| Run | Who | State | Progress | Elapsed | Per epoch | Remaining |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        job = owners.get(run.name)
        now = progress(run)
        place = f" #{job.position}" if job is not None and job.position else ""
        where = "" if job else " *(not started here)*"
        owner = job.owner if job else run.status().get("owner", "")
        lines.append(f"| `{run.name}`{where} | {_cell(owner)} | {state_badge(now.state)}{place} "
                     f"| epoch {now.epoch}/{now.epochs} ({now.fraction:.0%}) | {duration(now.elapsed_s)} "
                     f"| {duration(now.per_epoch_s)} | {duration(now.remaining_s)} |")
    st.markdown("\n".join(lines))
    watch(*[run for run in runs if run.live()], page_extra=lambda: jobs.version, pending=True)


table()
actionable = [job for job in listed if jobs.owns(job.run)]
for job in actionable:
    remove = job.position is not None  # the queue knows before the run's files say "running"
    name_cell, button_cell = st.columns([6, 1], vertical_alignment="center")
    name_cell.markdown(f"`{job.run}` — {'queued #' + str(job.position) if remove else 'training'}")
    if button_cell.button("Remove" if remove else "Stop", key=f"stop_{job.run}", width="stretch"):
        jobs.stop(job.run)
        st.rerun()
