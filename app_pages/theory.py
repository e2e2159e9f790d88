"""Theory: the maths of each model and strategy, and where transfer methods sit in the taxonomy."""

import streamlit as st

from tl_app import controls
from tl_app.catalog import COMPARE, DEMO_BY_NAME

controls.enter_page("theory", [])
controls.write_link([])


def shown_on(demo: str, what: str = "") -> None:
    """A link under a formula to the page where it is at work."""
    page = DEMO_BY_NAME[demo]
    st.page_link(page.path, label=f"See it on the {page.title} page{what}", icon=page.icon)


st.title("Theory")
controls.show_link_warnings()
st.markdown(
    "The maths behind every page, in the names the charts use. A **source** data set "
    "$D_s = \\{(x_i, y_i)\\}$ has many labels, a **target** data set $D_t$ only a few; $\\theta$ "
    "are a model's parameters and $\\theta_s$ those learned on the source. Every strategy is "
    "measured against **scratch**, which fits $\\theta$ on $D_t$ alone."
)

st.header("The models")
left, right = st.columns(2)
with left:
    st.subheader("Linear regression: least squares")
    st.markdown(
        "Fit $y \\approx Xw + b$ by minimising the squared error. Setting the gradient to "
        "zero gives the **normal equation**, solved in one step:"
    )
    st.latex(r"\hat w = \arg\min_w \lVert Xw - y \rVert^2 \quad\Rightarrow\quad X^\top X\,\hat w = X^\top y")
    st.markdown(
        "With a few target rows and several features, that fit is exact on them and wild elsewhere, "
        "so **scratch** adds a ridge penalty, $\\alpha$ chosen by leave-one-out (scikit-learn's "
        "RidgeCV), as a practitioner would:"
    )
    st.latex(r"(X^\top X + \alpha I)\,\hat w = X^\top y")
    st.markdown(
        "Gradient descent reaches the least-squares line step by step, which is what fine-tuning does:"
    )
    st.latex(r"w \leftarrow w - \eta\, \nabla_w \lVert Xw - y \rVert^2 = w - 2\eta\, X^\top (Xw - y)")
    shown_on("linear")
with right:
    st.subheader("Logistic regression")
    st.markdown(
        "The probability of class 1 is a squashed linear score; training minimises the "
        "log-loss (cross-entropy). The decision boundary is the line $w^\\top x + b = 0$."
    )
    st.latex(r"p(y = 1 \mid x) = \sigma(w^\top x + b) = \frac{1}{1 + e^{-(w^\top x + b)}}")
    st.latex(r"L(w, b) = -\frac{1}{n}\sum_i \big[y_i \log p_i + (1 - y_i)\log(1 - p_i)\big]")
    shown_on("logistic")

left, right = st.columns(2)
with left:
    st.subheader("CNN: the convolution layer")
    st.markdown(
        "A filter $K$ of size $k \\times k$ slides over the image; each output pixel is a "
        "weighted sum of the pixels under it. Early filters find edges and strokes, which is "
        "why they transfer between digit sets."
    )
    st.latex(r"(X * K)_{ij} = \sum_{u=0}^{k-1} \sum_{v=0}^{k-1} X_{i+u,\, j+v}\, K_{uv} + b")
    st.latex(r"h = \mathrm{ReLU}(X * K)")
    shown_on("cnn", ": its filters")
with right:
    st.subheader("RNN: the recurrence")
    st.markdown(
        "The hidden state $h_t$ carries a summary of the sequence so far; the same weights "
        "are used at every step, and the last state is classified."
    )
    st.latex(r"h_t = \tanh(W_x x_t + W_h h_{t-1} + b)")
    st.latex(r"\hat y = \mathrm{softmax}\big(W_o \tanh(W_d h_T + b_d)\big)")
    shown_on("rnn", ": its hidden-state paths")

st.header("The strategies")
st.subheader("Scratch and source only: the two ends", anchor="scratch-and-source-only")
st.markdown(
    "**Scratch** fits a fresh model on the target's few labels alone, $\\min_\\theta L_t(\\theta)$ from "
    "random weights: the baseline every gain on these pages is measured against. **Source only** "
    "applies the source model $\\theta_s$ to the target as it is, with no target training. Every "
    "other strategy sits between them."
)
left, right = st.columns(2)
with left:
    st.subheader("Fine-tuning: start from the source", anchor="fine-tuning")
    st.markdown(
        "Initialise at $\\theta_s$ and minimise the target loss; nothing holds $\\theta$ "
        "near the source, so the source task can be forgotten."
    )
    st.latex(r"\theta^{(0)} = \theta_s, \qquad \theta \leftarrow \theta - \eta\, \nabla_\theta L_t(\theta)")
    shown_on("linear", ": fine-tune")
    st.subheader("Regularized transfer (L2-SP)", anchor="regularized-transfer")
    st.markdown(
        "The target loss plus a pull toward the source weights. λ trades the two, and what its "
        "ends are depends on the model family:\n"
        "- **Linear and logistic regression**: λ = 0 is **scratch** (the target-only fit, its "
        "own ridge term α included), λ → ∞ the source model as it is (**source only**).\n"
        "- **Networks (L2-SP)**: the pull starts from the source weights, so λ = 0 is plain "
        "**fine-tuning**, and a large λ keeps the transferred weights where the source left them: "
        "like **feature extraction** where the classes are new (only the fresh head learns), like "
        "source only where they are the same."
    )
    st.latex(r"\hat\theta = \arg\min_\theta\; L_t(\theta) + \lambda \lVert \theta - \theta_s \rVert^2")
    st.markdown("For least squares (with scratch's ridge term) it has a closed form:")
    st.latex(r"(X^\top X + \alpha I + \lambda I)\,\hat w = X^\top y + \lambda w_s")
    shown_on("linear", ": move λ")
with right:
    st.subheader("Joint training", anchor="joint-training")
    st.markdown(
        "One model for both data sets; the weight $w$ sets how much the few target "
        "samples count against the many source ones."
    )
    st.latex(r"L(\theta) = L_s(\theta) + w \cdot L_t(\theta)")
    shown_on("logistic", ": joint training")
    st.subheader("Freezing: feature extraction and partial fine-tuning", anchor="freezing")
    st.markdown(
        "Split the network into feature blocks $f = f_K \\circ \\dots \\circ f_1$ and a head "
        "$g$. Feature extraction freezes all of $f$ at the source and trains a new head; "
        "partial fine-tuning freezes the first $k$ blocks only."
    )
    st.latex(r"\hat y = g_\phi\big(f_{\theta_s}(x)\big)")
    st.latex(r"\text{feature extraction: } \min_{\phi}\, L_t(\phi)")
    st.latex(r"\text{partial fine-tune: } \min_{\theta_{k+1}, \dots, \theta_K,\, \phi}\, L_t")
    shown_on("cnn", ": feature extraction and partial fine-tune")
    st.subheader("CORAL: align the covariances", anchor="coral")
    st.markdown(
        "No target labels at all: whiten the target inputs with their own covariance, "
        "re-colour them with the source's (and move their mean onto the source's), then "
        "apply the source model as it is. It undoes a shift of the inputs, not a turned "
        "boundary."
    )
    st.latex(
        r"x' = (x - \mu_t)\, C_t^{-1/2}\, C_s^{1/2} + \mu_s, \qquad "
        r"C = \mathrm{cov}(X) + \varepsilon I"
    )
    shown_on("logistic", ": CORAL")

st.header("How the charts measure", anchor="measures")
left, right = st.columns(2)
with left:
    st.markdown(
        "**R²** (regression): the share of the target values' spread that the predictions "
        "$\\hat y_i$ explain. 1 is perfect; 0 is what predicting the mean $\\bar y$ scores; below 0 "
        "is worse than that. **MSE** is the mean squared error, the numerator's average."
    )
    st.latex(r"R^2 = 1 - \frac{\sum_i (y_i - \hat y_i)^2}{\sum_i (y_i - \bar y)^2}")
with right:
    st.markdown(
        "**Accuracy** (classification): the share of test samples labelled correctly. Training "
        "minimises the **log-loss**, also called **cross-entropy**: minus the mean log of the "
        "probability $p_i$ the model gave each sample's true class."
    )
    st.latex(r"L = -\frac{1}{n} \sum_i \log p_i(y_i)")

st.header("The taxonomy")
st.markdown(
    "Transfer methods are grouped by **what** is carried from source to target, and by "
    "**how much** of the model is adapted:"
)
st.latex(
    r"\underbrace{\text{feature transfer}}_{\text{reuse } f_{\theta_s}(x)} \quad"
    r"\underbrace{\text{structure transfer}}_{\text{reuse the architecture and first blocks}} \quad"
    r"\underbrace{\text{parameter transfer}}_"
    r"{\theta^{(0)} = \theta_s \text{ or } \lambda\lVert\theta-\theta_s\rVert^2}"
)
st.markdown("""
| what is transferred | how much is adapted | strategies in this lab |
|---|---|---|
| features | partial: the head only | feature extraction |
| structure | partial: the later blocks | partial fine-tune |
| parameters | full: every weight | fine-tune, regularized transfer, joint training |
| parameters, as they are | none: no target training | source only |
| parameters, the target inputs moved to the source's statistics | none: no target labels | CORAL |
""")
st.page_link(COMPARE[0], label="See how the gain of each strategy changes across demos", icon=COMPARE[2])
