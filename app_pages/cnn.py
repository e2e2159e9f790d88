"""CNN: convolution filters learned on one set of digits, carried to other digits."""

from tl_app.demo_page import show

show("cnn")
