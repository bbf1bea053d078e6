"""What every layer needs, below all of them: declared parameters (:mod:`~vireid.core.params`), the
registries (:mod:`~vireid.core.registry`) and plugins (:mod:`~vireid.core.plugins`), device and
precision (:mod:`~vireid.core.device`), torch.distributed helpers (:mod:`~vireid.core.distributed`)
and where a run keeps its checkpoints (:mod:`~vireid.core.checkpoints`).

It imports only :mod:`vireid.errors` and :mod:`vireid.utils` (``tests/test_layers.py``).
"""
