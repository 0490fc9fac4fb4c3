"""The playground: a local web page (:mod:`experiments.playground.app`) over three parts that know nothing of the
page: the width sweep trained in chunks (:mod:`~experiments.playground.fit`), back-propagation's tables
(:mod:`~experiments.playground.backprop`) and a digit you draw (:mod:`~experiments.playground.digits`).
``python -m experiments.playground`` serves it. The page is built by :mod:`~experiments.playground.app` from its
widgets (:mod:`~experiments.playground.widgets`), what it remembers per session
(:mod:`~experiments.playground.session`), what it draws (:mod:`~experiments.playground.rendering`) and its events
(:mod:`~experiments.playground.handlers`).
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before any module here imports gradio: it reads this once
