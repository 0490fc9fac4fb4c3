"""``python -m experiments.playground``: serve the page (``--help`` lists the flags)."""

from experiments.playground import app

app.run()
