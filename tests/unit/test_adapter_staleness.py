"""Stale adapters, the pure part: a manifest's recorded documents against their sha256 now; the retraining config."""

from __future__ import annotations

import pytest

from chatbot.adapter_staleness import recorded_documents, stale_summary, staleness
from training.config import TrainingError
from training.retrain import retrain_config

DOCS = [{"id": 1, "collection": "c", "source": "a.md", "title": "A", "sha256": "1" * 64},
        {"id": 2, "collection": "c", "source": "b.md", "title": "B", "sha256": "2" * 64},
        {"id": 3, "collection": "c", "source": "c.md", "title": "", "sha256": "3" * 64}]


def test_unchanged_documents_are_fresh_and_a_changed_or_deleted_one_makes_it_stale():
    recorded = recorded_documents({"data": {"documents": DOCS}})
    fresh = staleness(recorded, ["1" * 64, "2" * 64, "3" * 64])
    assert (fresh["stale"], fresh["documents_recorded"], fresh["documents"]) == (False, True, 3)
    assert stale_summary(fresh) == "no"
    state = staleness(recorded, ["1" * 64, "f" * 64, None])
    assert state["stale"] is True and state["changed_documents"]["count"] == 2
    assert [(d["id"], d["change"]) for d in state["changed_documents"]["documents"]] == [(2, "changed"),
                                                                                        (3, "deleted")]
    assert stale_summary(state) == "yes: 2 documents changed — B, c.md"


def test_an_adapter_from_before_the_record_is_not_called_stale():
    for manifest in ({}, None, {"data": {"collection": "c"}}, {"data": {"documents": [{"title": "no id"}]}},
                     {"data": {"documents": ["not a record"]}}):
        state = staleness(recorded_documents(manifest), [])
        assert (state["stale"], state["documents_recorded"], state["changed_documents"]["count"]) == (False, False, 0)
        assert stale_summary(state).startswith("unknown")


def test_retrain_config_is_the_recorded_one_and_refuses_a_vanished_qa_file(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "q", "answer": "a"}\n')
    manifest = {"data": {"qa_file": str(qa), "split": "train", "collection": "faq"},
                "hyperparameters": {"epochs": 2.0, "lora_r": 8, "k": 3, "target_modules": ["q_proj"],
                                    "max_length": 512, "optimizer": "adamw_torch", "lr_scheduler": "linear"}}
    config = retrain_config(manifest)
    assert (config.qa, config.collection, config.epochs, config.lora_r, config.k) == (str(qa), "faq", 2.0, 8, 3)
    assert config.name is None and config.target_modules == ["q_proj"]
    qa.unlink()
    with pytest.raises(TrainingError, match="QA file"):
        retrain_config(manifest)
