"""vireid benchmarks: ``python -m benchmarks`` runs the suite, ``python -m benchmarks.<name>`` one of them."""
