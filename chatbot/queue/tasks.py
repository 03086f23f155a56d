"""The task registry: each long task is registered under a name (its job `kind`) with the queue it runs on.

A task is `function(services, progress, **arguments) -> dict`: `services` is the worker's own `Services`, built
once from its settings; `arguments` are the job's JSON arguments (never secrets); the returned dict (JSON-able)
becomes the job's result. Tasks are registered where they live; `TASK_MODULES` lists those modules so that a
worker (and a submitter) imports them all."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_QUEUE = "default"
TRAINING_QUEUE = "training"  # training and embedder tuning: a GPU box's worker may take only this one
QUEUES = (DEFAULT_QUEUE, TRAINING_QUEUE)
TASK_MODULES = (
    "chatbot.queue.builtin_tasks",
    "chatbot.handoff_tasks",
    "training.background",
    "training.embedder_background",
    "training.reports",
)

TaskFunction = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class TaskSpec:
    kind: str
    queue: str
    function: TaskFunction


_REGISTRY: dict[str, TaskSpec] = {}


def task(kind: str, queue: str = DEFAULT_QUEUE) -> Callable[[TaskFunction], TaskFunction]:
    """Register the decorated function as the task `kind`."""

    def register(function: TaskFunction) -> TaskFunction:
        _REGISTRY[kind] = TaskSpec(kind, queue, function)
        return function

    return register


def load_tasks() -> dict[str, TaskSpec]:
    """Every registered task (importing `TASK_MODULES` first), by kind."""
    for module in TASK_MODULES:
        importlib.import_module(module)
    return dict(_REGISTRY)


def get_task(kind: str) -> TaskSpec:
    """The task `kind`; ValueError naming the known ones."""
    tasks = load_tasks()
    if kind not in tasks:
        raise ValueError(f"no task named '{kind}'; known: {', '.join(sorted(tasks))}")
    return tasks[kind]
