"""Named experiments, one file each: ``alphacode pretrain|finetune --experiment NAME [--set key=value ...]``.

``NAME`` is the file name with dashes (``pretrain-tiny`` is ``pretrain_tiny.py``); each file's ``get_config()``
returns the whole :class:`alphacode.config.Experiment`. Copy one to start a new experiment, or pass a path.
"""
