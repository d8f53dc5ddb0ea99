"""Training checkpoints on disk: the orbax manager of a work directory, and a run's weights read back.

The trainer saves and resumes through :func:`open_manager` and :func:`restore_latest`; loading a model from a
training directory (:func:`alphacode.model.export.load_model`, which fine-tuning from a pretraining run uses too)
reads its weights through :func:`load_params`. orbax is slow to import, so only these paths import this module.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

from alphacode.errors import UserError, first_line

CHECKPOINTS = "checkpoints"


class _Drop(logging.Filter):
    """Drops the log records whose message holds every one of ``fragments``."""

    def __init__(self, *fragments: str) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not all(fragment in message for fragment in self.fragments)


# orbax's warning that a manager opened read-only is read-only (every restore would print it), and asyncio's notes
# that the other reads of a damaged checkpoint failed too (one per array, each with a 60-line TensorStore spec)
# once restore() has said in one line that it is damaged
logging.getLogger("absl").addFilter(_Drop("Given directory is read only"))
logging.getLogger("asyncio").addFilter(_Drop("exception was never retrieved", "reading array index"))


class _QuietClosedLoop:
    """An unraisable-exception hook that drops "Event loop is closed" and passes the rest to the hook it replaced:
    after a damaged checkpoint's first failed read ends orbax's event loop, TensorStore's other reads still call
    back into it, a traceback each."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, unraisable: Any) -> None:
        exc = unraisable.exc_value
        if not (isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"):
            self.previous(unraisable)


def open_manager(workdir: str | os.PathLike[str], max_to_keep: int | None = None) -> ocp.CheckpointManager:
    """The checkpoint manager of a training work directory (its ``checkpoints/`` folder, created if missing)."""
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(Path(workdir).resolve() / CHECKPOINTS, options=options)


def _reader(workdir: str | os.PathLike[str]) -> ocp.CheckpointManager:
    """A manager that only reads ``workdir``'s checkpoints: it neither creates nor cleans up anything there."""
    if not (Path(workdir) / CHECKPOINTS).is_dir():
        raise UserError(f"{workdir}: no {CHECKPOINTS}/; not a training directory")
    options = ocp.CheckpointManagerOptions(create=False, read_only=True, save_interval_steps=0)
    return ocp.CheckpointManager(Path(workdir).resolve() / CHECKPOINTS, options=options)


def restore(manager: ocp.CheckpointManager, step: int, args: Any) -> Any:
    """``manager.restore``, with a checkpoint that cannot be read (a partial copy, a corrupt file) or that does not
    fit this run (another model's shapes or structure) as one line naming it."""
    if not isinstance(sys.unraisablehook, _QuietClosedLoop):  # before the reads: a failed one ends the loop at once
        sys.unraisablehook = _QuietClosedLoop(sys.unraisablehook)
    try:
        return manager.restore(step, args=args)
    except (ValueError, OSError, KeyError) as err:
        problem = _restore_problem(manager, step, err)
    except Exception as err:
        if type(err) is not Exception:  # orbax wraps a failed array read in a bare Exception; the rest are bugs
            raise
        problem = _restore_problem(manager, step, err)
    raise UserError(problem)


def _restore_problem(manager: ocp.CheckpointManager, step: int, err: BaseException) -> str:
    reason = first_line(err.__cause__ or err)[:160]  # orbax's own message wraps a 60-line TensorStore spec
    where = f"{manager.directory}/{step}"
    if isinstance(err, KeyError) or any(word in reason.lower() for word in ("shape", "structure", "missing key")):
        return f"{where}: does not fit this run's state ({reason}); was it written with another model or mesh?"
    return f"{where}: unreadable checkpoint ({reason}); delete that folder to fall back to an earlier one"


def restore_latest(workdir: str | os.PathLike[str], target: Any) -> Any:
    """The latest state saved in ``workdir``, laid out as ``target`` says (a tree of ``jax.ShapeDtypeStruct``
    with shardings): on many hosts every process calls this and reads only its shards."""
    with _reader(workdir) as manager:
        step = manager.latest_step()
        if step is None:
            raise UserError(f"{workdir}: no checkpoint saved yet")
        return restore(manager, step, ocp.args.StandardRestore(target))


def latest_step(workdir: str | os.PathLike[str]) -> int | None:
    """The step of the latest checkpoint saved in ``workdir`` (None if none yet)."""
    with _reader(workdir) as manager:
        return manager.latest_step()


def is_training_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a training run's checkpoints (rather than, say, a model export)."""
    return (Path(path) / CHECKPOINTS).is_dir()


def load_params(workdir: str | os.PathLike[str], step: int | None = None) -> Any:
    """The parameters saved by a run in ``workdir`` (latest step by default), on CPU; its model config is
    the caller's to read (:func:`alphacode.model.export.read_model_config` checks it)."""
    with _reader(workdir) as manager:
        step = step if step is not None else manager.latest_step()
        if step is None:
            raise UserError(f"{workdir}: no checkpoint saved yet")
        restored = restore(manager, step, ocp.args.StandardRestore())
    return restored["params"]
