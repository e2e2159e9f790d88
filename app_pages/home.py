"""Home: what transfer learning is, the flow from source to target, the demos, a lecture path."""

import streamlit as st

from tl_app import controls
from tl_app.catalog import COMPARE, DEMO_PAGES, THEORY

controls.enter_page("home", [])
controls.show_link_warnings()
controls.write_link([])

st.title("Transfer Lab")
st.markdown(
    "**Transfer learning** reuses what a model learned on a **source** task, where labelled data is "
    "plentiful, to do better on a **target** task that has only a few labels. It helps when the two "
    "tasks are alike, and it can hurt when they are not (negative transfer). Every demo here "
    "trains on a source, carries the model to a target with several strategies, and shows "
    "**source and target accuracy side by side**, always against **scratch**: a model trained "
    "on the target's few labels alone."
)

st.graphviz_chart("""
digraph transfer {
  rankdir=LR; bgcolor="transparent";
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, margin="0.15,0.08"];
  edge [color="#555555"];
  source  [label="Source data\\n(many labels)", fillcolor="#dbe9f6"];
  features [label="Features\\n(what the model learned)", fillcolor="#dbe9f6"];
  knowledge [label="Knowledge\\n(weights, filters, boundary)", fillcolor="#e6f2e0"];
  target  [label="Target data\\n(few labels)", fillcolor="#f9dcdc"];
  adapt   [label="Adaptation\\n(fine-tune, freeze, λ, joint)", fillcolor="#e6f2e0"];
  predict [label="Target prediction", fillcolor="#f9dcdc"];
  source -> features -> knowledge -> adapt -> predict;
  target -> adapt;
}
""")
st.caption("Blue: the source side. Red: the target side. Green: what transfers, and how it is adapted.")

st.subheader("The four demos")
for column, page in zip(st.columns(len(DEMO_PAGES)), DEMO_PAGES):
    with column.container(border=True, height="stretch"):
        st.markdown(f"##### {page.title}")
        st.markdown(page.lesson)
        st.caption(f"Shows {page.shows}.")
        st.page_link(page.path, label=f"Open {page.title}", icon=":material/arrow_forward:")

st.subheader("A 20-minute lecture")
st.markdown(f"""
1. **Linear regression (5 min).** With the defaults, fine-tuning and regularized transfer beat
   scratch with 5 target points. Move **gap** to 1: the source line now misleads, and source only
   falls far below scratch (fine-tuning, which moves furthest from the source line, can still come
   out ahead on one seed: the headline says which); run the **gap sweep** to see every transfer
   strategy's gain, averaged over seeds, shrink and turn negative. Move **λ** from 0 to its top:
   the fit slides from scratch's line to the source line.
2. **Logistic regression (4 min).** Watch the decision boundaries rotate toward the true target
   boundary (black). Run the **data-efficiency sweep**: as target labels grow, scratch catches up.
3. **CNN (5 min).** Printed digits to handwritten ones: with a few labels per class, feature
   extraction and fine-tuning win. Compare the **source accuracy after transfer**: fine-tuning
   forgets, feature extraction keeps it. Move **λ**: at 0 regularized transfer is plain
   fine-tuning; at its top the weights stay at the source's, and so does the source accuracy.
   Switch the scenario to **shift** and move **gap** to 1: the source model, read as it is, falls
   below scratch.
4. **RNN (3 min).** The same story on sequences. Switch the scenario to **shift** (the same
   digits, noisier and more distorted) and move **gap**: the source model read as it is falls as
   the target drifts away from the source.
5. **{COMPARE[1]} (3 min).** All demos on one chart: the gain shrinks with a wider gap, and as
   labels grow (where it first grows, the sentence says from where). The **{THEORY[1]}** page has
   the maths behind each strategy, and what λ's two ends are for each model family.
""")
st.page_link(COMPARE[0], label="Compare the demos", icon=COMPARE[2])
st.page_link(THEORY[0], label="The maths: models, strategies, taxonomy", icon=THEORY[2])
