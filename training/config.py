"""What a fine-tuning run depends on (`TrainConfig`), apart from the training code: the CLI derives its help
from these defaults without importing torch."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from chatbot.adapters import valid_adapter_name
from chatbot.quantization import QUANTS, Quant

DEFAULT_ORACLE_P = 0.8
SourceOrder = Literal["ranked", "shuffled"]
# The order the chain shows at answer time; over three seeds on python-faq it beat RAFT's shuffle on F1 and on
# following the right source in every seed (docs/fine-tuning.md).
DEFAULT_SOURCE_ORDER: SourceOrder = "ranked"

ALL_LINEAR = "all-linear"  # PEFT: every linear layer of attention and MLP (not the output head)


class TrainingError(RuntimeError):
    """Training that cannot start or finish; the message says why."""


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as `run.json` beside the checkpoints and in the manifest."""

    qa: str
    split: str = "train"
    collection: str | None = None  # None → settings.collection
    name: str | None = None  # None → "<collection>-<UTC timestamp>"
    quant: Quant = "nf4"
    epochs: float = 3.0
    max_steps: int | None = None  # when set, overrides epochs
    lr: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | str = ALL_LINEAR
    batch_size: int = 4  # examples per optimizer step
    micro_batch_size: int | None = None  # per forward pass; None → 1 on CPU (no padding waste), all on GPU
    warmup_ratio: float = 0.05
    k: int | None = None  # sources per prompt; None → settings.top_k
    oracle_p: float = DEFAULT_ORACLE_P
    val_fraction: float = 0.1
    max_length: int | None = None  # None → the generator's context window
    save_steps: int = 10  # a checkpoint (and, with validation pairs, a validation loss) every N steps
    redraw: bool = True  # each epoch draws its own sources per pair (oracle kept or not, where it goes)
    source_order: SourceOrder = DEFAULT_SOURCE_ORDER  # "ranked" (the retriever's order) or "shuffled" (RAFT)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.quant not in QUANTS:
            raise TrainingError(f"unknown quantization '{self.quant}' (choose from {', '.join(QUANTS)})")
        if self.name is not None and not valid_adapter_name(self.name):
            raise TrainingError(f"invalid adapter name '{self.name}': letters, digits, '.', '_' and '-' only")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainingError("--max-steps must be at least 1")
        if self.source_order not in get_args(SourceOrder):
            raise TrainingError(f"unknown source order '{self.source_order}' "
                                f"(choose from {', '.join(get_args(SourceOrder))})")
        if self.epochs <= 0:
            raise TrainingError("--epochs must be positive")
        if self.batch_size < 1 or (self.micro_batch_size is not None and self.micro_batch_size < 1):
            raise TrainingError("batch sizes must be at least 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise TrainingError("the validation fraction must be in [0, 1)")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def check_fields(cls, data: Mapping[str, Any]) -> None:
        """Refuse, by name, a field of a saved config (`run.json`) that this version does not know."""
        known = [f.name for f in dataclasses.fields(cls)]
        if unknown := sorted(set(data) - set(known)):
            raise TrainingError(f"unknown training config field{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(repr(name) for name in unknown)} (known: {', '.join(known)})")
