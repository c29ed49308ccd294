"""Proofs: the paper's closed forms in sympy (``formulas``), certified signs (``certified``), the claim
checker (``claims``, ``claim_search``, ``conv_claim``) and the theorems with a model's rows checked against
their bounds (``verify``)."""
