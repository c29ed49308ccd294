"""The paper's guidelines: its experiments and tables (``experiments``, ``paper_tables``), the G1–G4 linter
(``lint``) and comparisons of architectures (``compare``)."""
