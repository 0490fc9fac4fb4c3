"""The lecture's experiments, as a package: each runs as ``python -m experiments.<name>`` or as
``python experiments/<name>.py``, and is a library too (``main(Config(...))`` returns its metrics).

* :mod:`experiments.universal_approx`: the width sweep (``make demo``).
* :mod:`experiments.width_study`: the sweep's error taken apart: what a width can represent, what the data allow,
  what training reaches (``make study``).
* :mod:`experiments.mnist`: the lecture's 784-200-10 network on MNIST (``make mnist``).
* :mod:`experiments.playground`: the lecture, live, on a local web page (``make playground``).
* :mod:`experiments.cli`: command lines generated from a ``Config`` dataclass.
"""
