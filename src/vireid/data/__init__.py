"""vireid.data: records, dataset readers, evaluation splits, image I/O and the training pipeline.

* :mod:`vireid.data.records` -- :class:`Record` ``(path, pid, camid, modality)``;
* :mod:`vireid.data.datasets` -- SYSU-MM01, RegDB, LLCM and CSV-manifest readers, ``build_dataset``;
* :mod:`vireid.data.protocols` -- :class:`EvalSplit` and the authors' gallery sampling;
* :mod:`vireid.data.image` -- ``read_image`` (everything to RGB, errors name the file);
* :mod:`vireid.data.transforms`, :mod:`vireid.data.sampler`, :mod:`vireid.data.train_dataset`,
  :mod:`vireid.data.loaders` -- DEEN's augmentation, identity sampler and DataLoaders;
* :mod:`vireid.data.synth` -- the synthetic benchmark generator.
"""
