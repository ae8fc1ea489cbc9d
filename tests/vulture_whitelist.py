"""Names that vulture (tests/test_dead_code.py) cannot see used, each with the reason it is.

Vulture reads this file as source: a bare name or ``_.name`` marks ``name`` as used anywhere
in ``src/selfattn``. It is never imported. Functions registered with a ``@<dispatcher>.register``
decorator are exempted by the test itself (the dispatcher calls them), not listed here.
"""
# ruff: noqa: B018, F821

# -- Lightning calls these by name (Callback, LightningModule, LightningDataModule, CheckpointIO hooks)
_.on_fit_start  # train/callbacks.py MetricsRecorder
_.on_train_epoch_start  # train/callbacks.py MetricsRecorder, ResumePoint
_.on_train_batch_start  # train/callbacks.py ResumePoint
_.on_train_batch_end  # train/callbacks.py MetricsRecorder, ResumePoint
_.on_train_epoch_end  # train/callbacks.py MetricsRecorder, ResumePoint
_.on_validation_epoch_end  # train/module.py TaskModule
_.on_test_epoch_end  # train/module.py TaskModule
_.state_key  # train/callbacks.py ResumePoint: the key of its state in a checkpoint
_.training_step  # train/module.py, train/sequence_parallel.py
_.validation_step  # train/module.py
_.test_step  # train/module.py
_.configure_optimizers  # train/module.py
_.setup  # train/sequence_parallel.py: builds the process group once Lightning has started it
_.train_dataloader  # train/module.py DataModule
_.val_dataloader  # train/module.py DataModule
_.test_dataloader  # train/module.py DataModule
_.load_checkpoint  # train/checkpoint.py SafetensorsCheckpointIO
_.remove_checkpoint  # train/checkpoint.py SafetensorsCheckpointIO
# Hook arguments that Lightning passes and these hooks do not need (the signature is Lightning's).
pl_module
batch_idx
storage_options  # CheckpointIO.save_checkpoint
weights_only  # CheckpointIO.load_checkpoint
# ModelCheckpoint reads this class attribute to name its files (train/run.py sets ".safetensors").
_.FILE_EXTENSION

# -- Attributes that third-party objects read after they are set
_.normalizer  # data/subword.py: tokenizers.Tokenizer applies it in encode()
_.pre_tokenizer  # data/subword.py: tokenizers.Tokenizer applies it in encode()
_.dataset  # train/tasks/detection_metrics.py: pycocotools' COCO.createIndex() reads it

# -- Module-level hooks of Python itself (PEP 562)
__getattr__  # positional/__init__.py: names that moved to selfattn.nn
__dir__  # positional/__init__.py

# -- Used where vulture does not look
final_loss  # bench/lra/harness.py RunResult field, written by asdict() into benchmarks/results/lra_small.json
_memory_child  # bench/lra/speed.py: run in a child interpreter, named in a `python -c` string
