"""The ``costmodel`` command line (installed as the package ``costmodel_cli``)."""
