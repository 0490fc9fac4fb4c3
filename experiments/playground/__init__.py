"""The playground: a local web page (:mod:`experiments.playground.app`) over three parts that know nothing of the
page: the width sweep trained in chunks (:mod:`~experiments.playground.fit`), back-propagation's tables
(:mod:`~experiments.playground.backprop`) and a digit you draw (:mod:`~experiments.playground.digits`).
``python -m experiments.playground`` serves it.
"""
