"""Training: labelled text -> a checkpoint (``neurolite train``; ``neurolite_sdk.train`` from Python).

Modules, each importable on its own (this package imports nothing, so the torch-free parts stay light):

* ``data``: the TSV, CSV, JSONL and SNIPS readers; ``hf_data``: ``hf:REPO:SPLIT`` and ``save_to_disk`` folders
  through the Hugging Face ``datasets`` library;
* ``pipeline``: ``TrainJob`` and ``run_training``, the whole job (data -> featurizer -> teacher -> model ->
  checkpoint); ``trainer``: the training loop; ``checkpoint``: ``save_checkpoint`` / ``load_checkpoint``;
* ``teacher``, ``transformer_teacher``, ``teacher_cache``, ``distill``, ``augment``: knowledge distillation
  from a TF-IDF or a pretrained transformer teacher.
"""
