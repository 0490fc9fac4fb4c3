"""Reading a traced program: every equation of a jaxpr, nested ones (scans, jits, custom VJPs) included."""


def equations(jaxpr):
    """Yields every equation of ``jaxpr`` and of the jaxprs held in its equations' parameters, depth first."""
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                sub = getattr(sub, "jaxpr", sub)  # a closed jaxpr holds its jaxpr
                if hasattr(sub, "eqns"):
                    yield from equations(sub)
