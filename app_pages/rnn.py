"""RNN: a recurrent network's hidden state, carried from one family of 1-D signals to another."""

from tl_app.demo_page import show

show("rnn")
