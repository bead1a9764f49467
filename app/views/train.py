"""Train: configure a run, start it in the background, watch it live."""
import streamlit as st

from app import plots
from app.common import RUNS_ROOT, bundled, choose_hierarchy, job_registry
from core import DataConfig, FrameConfig, ModelConfig, OptimConfig, RunConfig, RunDir
from core.config import ConfigError
from core.training import check_config, describe_device

st.title("Train")
picked = choose_hierarchy()
if picked is None:
    st.stop()
hierarchy, source = picked
jobs = job_registry()

DEVICE = describe_device()
M_MODES = {"exact": "exact m*", "grid": "reference grid", "value": "value"}


with st.form("run"):
    c1, c2, c3 = st.columns(3)
    dataset = c1.selectbox("Dataset", ["synthetic", "fashion_mnist"],
                           help="synthetic: built-in images for the chosen hierarchy; Fashion-MNIST uses its own")
    head = c2.selectbox("Classifier", ["haframe", "etf", "learnable"],
                        format_func={"haframe": "fixed HAFrame", "etf": "fixed ETF", "learnable": "learnable linear"}.get)
    epochs = c3.number_input("Epochs", 1, 200, 8)
    c4, c5, c6 = st.columns(3)
    gamma = c4.slider("γ", 0.5, 10.0, 2.0, 0.5)
    alpha = c5.slider("α (cosine-loss weight)", 0.0, 1.0, 0.4, 0.05)
    per_class = c6.number_input("Training images per class (synthetic)", 10, 2000, 200, 10)
    with st.expander("Advanced"):
        a1, a2, a3 = st.columns(3)
        m_mode = a1.radio("Min similarity m", list(M_MODES), format_func=M_MODES.get, horizontal=True,
                          help="HAFrame only. exact: the smallest feasible m*; grid: the reference's grid "
                               "search; value: the number below (must be ≥ m*)")
        m_value = a1.number_input("m (for 'value')", -1.0, 0.999, 0.0, 0.01, format="%.3f")
        mapping = a2.selectbox("Mapping", ["exponential", "linear"], help="distance → similarity kernel")
        lr = a2.number_input("Learning rate", 0.0, 10.0, 0.05, 0.005, format="%.4f")
        batch = a3.number_input("Batch size", 2, 4096, 64, 16)
        dim = a3.number_input("Feature dimension (0 = K)", 0, 65536, 0, 1)
        seed = a1.number_input("Seed", 0, 2**31 - 1, 0, 1, help="weights, data, batch order and frame rotation")
        a2.text_input("Device", DEVICE, disabled=True, help="CUDA when available, else CPU")
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    try:
        fashion = dataset == "fashion_mnist"
        config = RunConfig(
            data=DataConfig(name=dataset, hierarchy="fashion_mnist" if fashion else source,
                            train_per_class=int(per_class), limit_train=6000 if fashion else 0, seed=int(seed)),
            frame=FrameConfig(head=head, gamma=float(gamma), mapping=mapping, seed=int(seed),
                              min_similarity=repr(float(m_value)) if m_mode == "value" else m_mode),
            model=ModelConfig(feature_dim=int(dim)),
            optim=OptimConfig(epochs=int(epochs), alpha=float(alpha), beta=1.0 - float(alpha), lr=float(lr),
                              batch_size=int(batch)),
            seed=int(seed),
        )
        check_config(config, bundled("fashion_mnist") if fashion else hierarchy)
        st.session_state["active_run"] = jobs.start(config)
    except ConfigError as err:
        st.error(f"Invalid settings: {err}")
    except OSError as err:  # e.g. the run store is not writable
        st.error(f"Could not create the run directory: {err}")


POLLING = jobs.is_running(st.session_state.get("active_run", ""))


@st.fragment(run_every=1.0 if POLLING else None)  # poll only while the run trains
def progress() -> None:
    run_name = st.session_state.get("active_run")
    if run_name is None:
        st.info("Start a run to watch it here. Runs started from the CLI appear on the Collapse page.")
        return
    run = RunDir(RUNS_ROOT / run_name)
    status = run.status()
    event = jobs.latest(run_name)
    running = jobs.is_running(run_name)
    if POLLING and not running:
        st.rerun()  # the run ended: redraw the page once, which stops the polling
    head = st.columns([5, 1], vertical_alignment="center")
    head[0].markdown(f"**{run_name}** — {status.get('state', 'starting')}")
    if running and head[1].button("Stop", key="stop", width="stretch"):
        jobs.stop(run_name)
    if status.get("state") == "failed":
        st.error(f"Training failed: {status.get('error')}")
    if event is not None and event.epochs:
        done = (event.epoch - 1 + event.step / max(event.steps, 1)) if event.kind == "batch" else event.epoch
        st.progress(min(done / event.epochs, 1.0), text=f"epoch {event.epoch} of {event.epochs}")
    elif running:
        st.progress(0.0, text="preparing the data and evaluating the untrained model (epoch 0)…")
    rows = run.metrics()
    if rows:
        c1, c2 = st.columns(2)
        c1.plotly_chart(plots.metric_curves(rows, ["top1"], "Top-1 accuracy (%)"), key="acc")
        c2.plotly_chart(plots.metric_curves(rows, ["mistake_severity", "hdist@1", "hdist@5"],
                                            "Mistake severity and hierarchical distance"), key="sev")
        c1.plotly_chart(plots.metric_curves(rows, ["train_loss", "train_ce", "train_cos"], "Training loss"),
                        key="loss")
        c2.plotly_chart(plots.metric_curves(rows, ["frame_dev_mean", "frame_dev_std"],
                                            "Frame deviation of class means"), key="dev")


progress()
