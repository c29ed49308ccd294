"""Design-space sweeps: candidates built from a builder's knobs, costed, linted, ranked by their Pareto
front — in this process, a local process pool, or on Ray (``sweep.run``, ``sweep.on_ray``)."""
