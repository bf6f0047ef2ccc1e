"""Benchmarks: size, latency, memory and scaling of NeuroLite bundles against transformer baselines.

    neurolite bench runs/sst2-tiny --out runs/bench      # measure (JSON results)
    neurolite report runs/bench                          # report.md + scaling.png

Every measurement case runs in a fresh subprocess (``python -m neurolite_sdk.benchmarks.worker``),
so cold load time and the peak memory increase belong to that case alone. ``suite`` plans and runs
the cases, ``baselines`` builds and exports the transformer baselines, ``report`` renders results.
The one-off scripts beside these modules (``linear_baseline.py``, ...) run as ``python benchmarks/X.py``.
Importing this package imports nothing heavy: the worker of an ONNX case stays torch-free.
"""
