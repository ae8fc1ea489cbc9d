"""selfattn.train: a task, a model and a config in; a trained run directory out.

On Lightning: progress bars, safetensors checkpoints (best and last, written atomically),
``--resume``, early stopping, mixed precision and DDP come from the trainer; this package
adds the tasks (``tasks``), configs with up-front checks (``config``), the loss and
metrics per target (``module``), the run record (``callbacks``, ``plots``) and the
``selfattn train | eval | predict`` commands (``cli``).
"""

from .config import ConfigError, check_config, resolve_config
from .predictor import Prediction, Predictor
from .run import evaluate, load_run, predict, train
from .tasks import PRESETS, TASKS, get_task

__all__ = ["PRESETS", "TASKS", "ConfigError", "Prediction", "Predictor", "check_config", "evaluate",
           "get_task", "load_run", "predict", "resolve_config", "train"]
