"""Design-space sweeps: candidates built from a builder's knobs, costed, linted, ranked by their Pareto
front — in this process, a local process pool, or on Ray (``sweeps.run``, ``sweeps.on_ray``). The package
is ``sweeps`` so that the public function ``costmodel.sweep`` is never shadowed by a subpackage."""
