"""jaxnet's benchmarks, as a package: ``make bench`` is ``python -m benchmarks.run``.

* :mod:`benchmarks.task_m`: the MNIST-shaped epoch, five ways, and the machine's matrix-product limit;
* :mod:`benchmarks.task_u`: the universal-approximation network, one network and ensembles;
* :mod:`benchmarks.scaling`: data parallelism and the members sweep over devices and processes;
* :mod:`benchmarks.report`: the tables and ``RESULTS.md``; :mod:`benchmarks.timing`: the one timing helper;
* ``program_hash``: the compiled programs of Task M and the sweep, hashed and timed, to compare two checkouts;
* ``first_call``, ``gpu``, ``playground``, ``shard_memory``: single-purpose runs, each ``python -m benchmarks.<name>``.

Programs that must run in a process of their own (a fresh memory baseline, a device count fixed at start-up, a
multi-process run) are functions of these modules, started with ``python -m benchmarks.<module> <what> ...``.
"""
