"""Charts that read at any width (tl_app.figures) and the page's charts in one HTML file."""

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tl_app import exports, figures


def row_of_three() -> go.Figure:
    fig = make_subplots(
        1, 3, subplot_titles=("Source states", "Target states", "Mistakes"), shared_yaxes=True
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[-5, 1], name="source digit 0", legendgroup="s"), 1, 1)
    fig.add_trace(go.Scatter(x=[0, 1], y=[2, 9], name="target digit 5", legendgroup="t"), 1, 2)
    fig.add_trace(go.Scatter(x=[0, 39], y=[0, 1], name="8 → 6", showlegend=False), 1, 3)
    fig.add_annotation(x=39, y=1, xref="x3", yref="y3", text="8 → 6", showarrow=False)
    fig.update_layout(title="Inside the model: paths (h<sub>T</sub>)")
    return fig


def test_a_row_of_panels_becomes_one_chart_per_panel_each_with_its_own_title_traces_and_notes():
    panels = figures.split_panels(row_of_three())
    assert [p.layout.title.text for p in panels] == ["Source states", "Target states", "Mistakes"]
    assert [[t.name for t in p.data] for p in panels] == [["source digit 0"], ["target digit 5"], ["8 → 6"]]
    assert all(t.xaxis == "x" and t.yaxis == "y" for p in panels for t in p.data)
    (note,) = panels[2].layout.annotations
    assert note.text == "8 → 6" and note.xref == "x" and note.yref == "y"
    assert not panels[0].layout.annotations, "a panel keeps only its own notes"


def test_panels_that_shared_an_axis_keep_one_range_holding_all_their_data():
    first, second, _ = figures.split_panels(row_of_three())
    assert first.layout.yaxis.range == second.layout.yaxis.range
    low, high = first.layout.yaxis.range
    assert low < -5 and high > 9, "the source's and the target's points both fit"
    assert second.layout.yaxis.showticklabels is not False, "its own tick labels, once alone"


def test_single_charts_and_grids_of_images_stay_whole():
    assert figures.split_panels(go.Figure(go.Scatter(x=[1], y=[1]))) is None
    grid = make_subplots(2, 2)
    assert figures.split_panels(grid) is None, "two rows: not a row of panels"
    assert figures.split_panels(make_subplots(1, 10)) is None, "ten digits in a row scale as one"


def plot_heights(drawn: figures.Drawn) -> list[float]:
    """Each panel's plot height as plotly lays it out: the chart's height less its margins."""
    layouts = [chart.to_dict()["layout"] for _, chart in drawn.panels]
    return [lay["height"] - lay["margin"]["t"] - lay["margin"]["b"] for lay in layouts]


def test_panels_with_different_legends_keep_plots_of_one_height_and_room_for_every_entry():
    """Side by side, a longer legend would shrink its panel's plot; here (two legends and a
    panel without one) each legend lists one entry per row below the plot, in room kept for
    the longest."""
    fig = row_of_three()
    fig.add_trace(go.Scatter(x=[0, 1], y=[1, 2], name="source digit 1 and more"), 1, 1)
    drawn = figures.Drawn.made(fig)
    heights = plot_heights(drawn)
    assert len(set(heights)) == 1 and heights[0] > 250, heights
    for _, chart in drawn.panels:
        layout = chart.to_dict()["layout"]
        assert layout["legend"]["orientation"] == "v" and layout["legend"]["y"] < 0, "a list below the plot"
        two_rows = figures.UNDER_THE_PLOT_PX + 2 * figures.LEGEND_ROW_PX
        assert layout["margin"]["b"] >= two_rows, "room for the longest legend, two entries"


def test_panels_with_legends_alike_are_drawn_as_they_were():
    """Legends of labels of the same lengths wrap alike (a training curve's two panels): their
    rows of entries are kept, as plotly lays them out."""
    fig = make_subplots(1, 2)
    for col in (1, 2):
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name=f"digit {col}"), 1, col)
    fig.update_layout(legend=dict(orientation="h"))
    drawn = figures.Drawn.made(fig)
    assert [chart.to_dict()["layout"]["legend"]["orientation"] for _, chart in drawn.panels] == ["h", "h"]


def test_a_title_becomes_plain_text_that_can_wrap():
    assert (
        figures.plain("<b>Inside</b>: paths<br>of h<sub>T</sub> &amp; more") == "Inside: paths of h_T & more"
    )
    untitled = figures.untitled(row_of_three(), height=420)
    assert untitled.layout.title.text is None and untitled.layout.height == 420


def test_the_pages_charts_come_in_one_html_file_with_plotly_js_once():
    charts = [(row_of_three(), "A **sentence** <b>as text</b>"), (go.Figure(go.Bar(x=[1], y=[2])), "")]
    one = exports.charts_html("Transfer Lab: <RNN>", charts).decode()
    assert one.lower().startswith("<!doctype html>")
    assert one.count("Plotly.newPlot") == 2
    assert "A sentence &lt;b&gt;as text&lt;/b&gt;" in one and "Transfer Lab: &lt;RNN&gt;" in one
    single = len(exports.charts_html("t", charts[:1]))
    assert len(one) - single < 100_000, "a second chart adds kilobytes, not plotly.js again"
