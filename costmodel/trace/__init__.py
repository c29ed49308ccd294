"""Stage 1, trace: the user's model as a graph with a shape on every node, on fake tensors.

fx tracing at module granularity (``fx_trace``), closed-form shape shortcuts (``module_shortcuts``,
``function_shortcuts``), the node memo (``node_cache``), the aten-level walk for untraceable Python
(``aten_walk``), and the isolation that leaves the user's model and process untouched (``model_copy``,
``guards``). Nothing here costs anything: the recorded aten calls go to the rules.
"""
