"""Primer: what neural collapse is, and why a frame that knows the tree — with a toy run that collapses live."""
import streamlit as st

from app import primer_views as pv
from app.common import bundled

TOY = "synthetic"  # 12 classes, 3 levels: small enough to train in seconds and to read every label

st.title("What is neural collapse, and why a frame that knows the tree?")
st.markdown(
    "Train a classifier long enough and its last layer becomes strikingly simple (Papyan, Han & Donoho, 2020). "
    "Every image of a class ends up at (nearly) the same feature vector, and these class vectors arrange "
    "themselves in a fixed, symmetric shape. Four properties describe it — **NC1–NC4** below — and a toy network "
    "on this page shows all four happening in a few seconds.")

hierarchy = bundled(TOY)
names = [hierarchy.display(leaf) for leaf in hierarchy.leaves]
order = hierarchy.tree_order()

st.subheader("1 · The data: what the tree means for the pixels")
st.markdown(f"The toy uses the **synthetic** dataset on the bundled *{hierarchy.name}* tree: every tree node owns a "
            "pattern of coloured blobs and an image of a class is the sum of the patterns on its path from the root. "
            "Classes in one branch therefore share most of their picture — the tree is *in the pixels*. Each class: "
            "its noise-free picture, then two training images as the network sees them.")
images = pv.samples(TOY, hierarchy)
for branch in hierarchy.children(hierarchy.names[0]):
    members = [i for i in order if branch in hierarchy.ancestors(hierarchy.leaves[i])]
    st.markdown(f"**{hierarchy.display(branch)}** — {len(members)} classes")
    for col, i in zip(st.columns(len(members)), members):
        col.image(list(images[i]), width=56)
        col.caption(names[i])

st.subheader("2 · A toy run")
left, right = st.columns([1, 3])
head = left.radio("Fixed classifier", ["haframe", "etf"], key="primer_head",
                  format_func={"haframe": "HAFrame (knows the tree)", "etf": "simplex ETF (blind to it)"}.get)
seed = int(left.number_input("seed", 0, 9999, 0, key="primer_seed"))
clicked = left.button("Train the toy model", key="primer_run", type="primary", icon=":material/play_arrow:")
left.caption("A 3-layer MLP on 288 images of 8×8 pixels, 120 full-batch Adam steps with the HAFrame loss against "
             "the chosen fixed frame — a few seconds on a CPU. Statistics every 10 steps.")
if clicked:
    st.session_state["primer_result"] = (head, seed)
if "primer_result" not in st.session_state:
    right.info("Press **Train the toy model** to watch the four properties appear.", icon=":material/school:")
    st.stop()
result = pv.run(TOY, hierarchy, *st.session_state["primer_result"])
right.plotly_chart(pv.curves_figure(result), key="primer_curves")
last = result.stats[-1]
right.caption(f"After {result.steps[-1]} steps: training accuracy {last['train_acc']:.0f} %, NC1 {last['nc1']:.3g}, "
              f"NC2 deviation {last['frame_dev_mean']:.3g}, NC3 {last['self_duality']:.3g}, NC4 "
              f"{last['nc4_agreement']:.0f} % (head: {st.session_state['primer_result'][0]}).")

st.subheader("3 · The four properties")
c1, c2 = st.columns(2)
c1.markdown("**NC1 — variability collapse.** The features of each class shrink onto their class mean: the "
            "within-class scatter vanishes next to the spread between classes. Left the random network, right "
            "the trained one — each class a tight dot.")
c1.plotly_chart(pv.features_figure(result, names), key="primer_features")
c2.markdown("**NC2 — the means form a frame.** With a learnable classifier the class means become a simplex ETF "
            "(all pairs at cosine −1/(K−1)). Here the classifier is *fixed* to a frame, and the means take its shape: "
            "left the learned cosines, right the targets.")
c2.plotly_chart(pv.means_figure(result, names, order), key="primer_means")
st.markdown("**NC3 — self-duality.** Each classifier row points the same way as its class mean, so the "
            "classifier *is* the configuration of means. **NC4 — nearest class mean.** The network's decision "
            "becomes: pick the class whose mean is closest. Both are the last two panels of the curves above.")
st.page_link("views/collapse.py", label="Explore NC1–NC4 of real training runs on the Collapse page",
             icon=":material/scatter_plot:")

st.subheader("4 · Why a frame that knows the tree?")
st.markdown("The ETF spreads all classes *equally*: confusing two dog breeds costs as much as confusing a dog with "
            "a lorry. The **Hierarchy-Aware Frame** (Liang & Davis, ICCV 2023) fixes the classifier to vectors whose "
            "cosines follow the tree — siblings close, distant branches far apart — as far as K unit vectors allow. "
            "Features collapse onto *that* geometry, so the mistakes a network still makes tend to land on "
            "relatives: lower mistake severity at the same accuracy. Train the toy with each head and compare the "
            "right-hand heatmap: blocks for the HAFrame, a flat sea for the ETF.")
links = st.columns(4)
links[0].page_link("views/hierarchy.py", label="The tree and its distances", icon=":material/account_tree:")
links[1].page_link("views/frames.py", label="The HAFrame vs the ETF", icon=":material/grid_on:")
links[2].page_link("views/train.py", label="Train a real run", icon=":material/model_training:")
links[3].page_link("views/mistakes.py", label="Which mistakes a model makes", icon=":material/rule:")
