"""Runtime: real timings (``measure``), the device calibration (``calibration``, ``microbench``,
``calibration_cache``, ``calibrate``), per-op roofline predictions (``predict``), their scores (``stats``)
and the bench that joins them with the analysis (``bench``)."""
