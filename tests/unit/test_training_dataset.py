"""The RAFT example builder's pure part: oracle rate, distinct distractors, the exact prompt, QA files."""

from __future__ import annotations

import json
import random

import pytest
from langchain_core.documents import Document

from chatbot.prompts import rag_messages
from training.dataset import (
    BuildStats,
    DatasetError,
    assemble_example,
    cite,
    distinct_distractors,
    examples_sha256,
    load_qa,
    oracle_limit,
    quoted_share,
    rng_for,
)
from training.train import (
    PreparedData,
    TrainConfig,
    TrainingError,
    draws_for,
    estimate_steps,
    to_prompt_completion,
    validation_split,
)


def chunk(chunk_id: int, text: str | None = None, **meta) -> Document:
    return Document(page_content=text or f"chunk {chunk_id} text",
                    metadata={"chunk_id": chunk_id, "title": f"Doc {chunk_id}", "source": f"/d/{chunk_id}.md", **meta})


ORACLE = chunk(1, "The warranty lasts 24 months.", page=2)
CANDIDATES = [chunk(1, "The warranty lasts 24 months.", page=2), chunk(2), chunk(3), chunk(2), chunk(4),
              chunk(5), chunk(6)]


def test_oracle_kept_at_the_configured_rate_over_200_draws():
    present = 0
    for draw in range(200):
        example = assemble_example("How long is the warranty?", "24 months.", [ORACLE], CANDIDATES, k=5, p=0.8,
                                   rng=rng_for(7, f"q{draw}", "How long is the warranty?"))
        present += bool(example.oracle_numbers)
    assert 0.7 <= present / 200 <= 0.9


@pytest.mark.parametrize("p, expected", [(1.0, 200), (0.0, 0)])
def test_oracle_rate_extremes(p, expected):
    present = sum(
        assemble_example("q", "a", [ORACLE], CANDIDATES, k=3, p=p, rng=random.Random(i)).oracle_numbers != []
        for i in range(200)
    )
    assert present == expected


def test_distractors_are_distinct_exclude_the_oracle_and_fill_k():
    for seed in range(50):
        example = assemble_example("q", "a", [ORACLE], CANDIDATES, k=5, p=0.8, rng=random.Random(seed))
        ids = example.chunk_ids
        assert len(ids) == 5 and len(set(ids)) == 5
        if not example.oracle_numbers:
            assert 1 not in ids
        else:
            assert ids[example.oracle_numbers[0] - 1] == 1 and ids.count(1) == 1


def test_same_text_under_another_id_is_not_a_second_distractor():
    twins = [chunk(10, "same words"), chunk(11, "same words"), chunk(12)]
    assert [d.metadata["chunk_id"] for d in distinct_distractors(twins, [])] == [10, 12]


def test_prompt_is_exactly_rag_messages_and_target_cites_the_oracle():
    example = assemble_example("  How long is the warranty? ", "It lasts 24 months.", [ORACLE], CANDIDATES, k=4,
                               p=1.0, rng=random.Random(3))
    by_id = {d.metadata["chunk_id"]: d for d in CANDIDATES}
    shown = [by_id[i] for i in example.chunk_ids]
    assert example.messages[:2] == rag_messages("  How long is the warranty? ",
                                                [(d.page_content, d.metadata) for d in shown])
    (number,) = example.oracle_numbers
    assert example.messages[2] == {"role": "assistant", "content": f"It lasts 24 months. [{number}]"}
    assert f"[{number}] Doc 1 (page 2)\nThe warranty lasts 24 months." in example.messages[1]["content"]
    assert example.row() == {"messages": example.messages}


def test_without_the_oracle_the_target_is_the_bare_answer():
    example = assemble_example("q", "It lasts 24 months.", [ORACLE], CANDIDATES, k=4, p=0.0, rng=random.Random(1))
    assert example.oracle_numbers == [] and example.messages[2]["content"] == "It lasts 24 months."
    no_oracle = assemble_example("q", "x", [], CANDIDATES, k=4, p=1.0, rng=random.Random(1))
    assert no_oracle.oracle_numbers == [] and len(no_oracle.chunk_ids) == 4


def test_every_oracle_chunk_is_shown_and_cited_first_sentence_by_where_the_answer_starts():
    start, rest = chunk(1, "The warranty lasts 24 months."), chunk(5, "It covers parts and labour.")
    answer = "The warranty lasts 24 months. It covers parts and labour."
    for seed in range(20):
        example = assemble_example("q", answer, [start, rest], CANDIDATES, k=4, p=1.0, rng=random.Random(seed))
        first, second = example.oracle_numbers
        assert example.chunk_ids[first - 1] == 1 and example.chunk_ids[second - 1] == 5
        assert len(set(example.chunk_ids)) == 4  # two oracles + two distinct distractors (5 is not one again)
        low, high = sorted((first, second))
        assert example.messages[2]["content"] == (
            f"The warranty lasts 24 months. [{first}] It covers parts and labour. [{low}][{high}]")


def test_a_chunk_is_quoted_by_the_share_of_its_words_in_the_answer():
    answer = {"the", "warranty", "lasts", "24", "months"}
    assert quoted_share("The warranty lasts 24 months.", answer) == 1.0
    assert quoted_share("The warranty excludes water damage.", answer) == pytest.approx(2 / 5)
    assert quoted_share("...", answer) == 0.0


@pytest.mark.parametrize("k, limit", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (8, 4)])
def test_oracles_take_at_most_about_half_the_sources(k, limit):
    assert oracle_limit(k) == limit


@pytest.mark.parametrize("answer, numbers, expected", [
    ("One sentence.", [2], "One sentence. [2]"),
    ("Yes.\nIt is common.", [3, 1], "Yes. [3]\nIt is common. [1][3]"),
    ("Run >>> 1.2 - 1.0 to see 0.19999. Then read on.", [1], "Run >>> 1.2 - 1.0 to see 0.19999. [1] Then read on. [1]"),
    ("No sources.", [], "No sources."),
])
def test_cite_marks_the_first_sentence_and_the_end(answer, numbers, expected):
    assert cite(answer, numbers) == expected


def test_deterministic_for_a_seed_and_varies_with_it():
    def build(seed: int):
        return [assemble_example("q", "a", [ORACLE], CANDIDATES, k=5, p=0.8, rng=rng_for(seed, f"id{i}", "q"))
                for i in range(20)]

    assert examples_sha256(build(0)) == examples_sha256(build(0))
    assert examples_sha256(build(0)) != examples_sha256(build(1))


def test_each_draw_of_a_pair_is_its_own_and_draw_zero_is_the_single_draw():
    def build(draw: int):
        return [assemble_example("q", "a", [ORACLE], CANDIDATES, k=5, p=0.8, rng=rng_for(0, f"id{i}", "q", draw))
                for i in range(20)]

    single = [assemble_example("q", "a", [ORACLE], CANDIDATES, k=5, p=0.8, rng=rng_for(0, f"id{i}", "q"))
              for i in range(20)]
    assert examples_sha256(build(0)) == examples_sha256(single)
    assert len({examples_sha256(build(draw)) for draw in range(3)}) == 3
    assert examples_sha256(build(2)) == examples_sha256(build(2))


@pytest.mark.parametrize("given, pairs, expected", [
    ({"epochs": 3.0}, 105, 3),
    ({"epochs": 2.5}, 105, 3),
    ({"epochs": 0.5}, 105, 1),
    ({"epochs": 3.0, "redraw": False}, 105, 1),
    ({"max_steps": 10, "batch_size": 4}, 20, 2),
    ({"max_steps": 2, "batch_size": 1}, 3, 1),
])
def test_one_draw_per_epoch_begun(given, pairs, expected):
    assert draws_for(TrainConfig(qa="x", **given), pairs) == expected


def test_steps_count_epochs_over_pairs_not_over_draws():
    data = PreparedData(train=[None] * 315, validation=[], stats=None, pairs=[], qa_sha256="", data_sha256="",
                        draws=3)  # type: ignore[arg-type]
    assert estimate_steps(data, TrainConfig(qa="x", epochs=3.0, batch_size=4)) == 79
    assert estimate_steps(data, TrainConfig(qa="x", epochs=1.0, batch_size=4)) == 27
    assert estimate_steps(data, TrainConfig(qa="x", max_steps=5)) == 5


def test_prompt_completion_split_keeps_the_answer_as_the_only_completion():
    example = assemble_example("q", "a", [ORACLE], CANDIDATES, k=2, p=1.0, rng=random.Random(0))
    row = to_prompt_completion(example)
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["completion"] == [example.messages[2]]


def test_load_qa_filters_split_and_reads_source_or_corpus_id(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [{"question": "Q1", "answer": "A1", "split": "train", "source": "a.pdf"},
            {"_id": "q2", "question": "Q2", "answer": "A2", "split": "test", "corpus_id": "faq:x"},
            {"question": "Q3", "answer": "A3"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    train = load_qa(path, "train")
    assert [p.question for p in train] == ["Q1", "Q3"] and train[0].document_key == "a.pdf"
    test = load_qa(path, "test")
    assert test[0].id == "q2" and test[0].document_key == "faq:x"
    with pytest.raises(DatasetError, match="no QA pairs in split 'dev'"):
        load_qa(path, "dev")


def test_load_qa_reports_the_bad_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "Q", "answer": "A"}\n{"question": "Q2"}\n')
    with pytest.raises(DatasetError, match=r"qa.jsonl:2: .*'answer'"):
        load_qa(path)


def test_validation_slice_is_a_tenth_at_least_one_and_disjoint():
    from training.dataset import QAPair

    pairs = [QAPair(f"q{i}", "a") for i in range(117)]
    train, val = validation_split(pairs, 0.1, seed=0)
    assert len(val) == 12 and len(train) == 105 and not {p.question for p in train} & {p.question for p in val}
    assert len(validation_split(pairs[:3], 0.1, 0)[1]) == 1
    assert validation_split(pairs[:1], 0.1, 0) == (pairs[:1], [])
    assert validation_split(pairs, 0.1, 0) == (train, val)


def test_config_rejects_bad_names_and_quantizations():
    with pytest.raises(TrainingError, match="invalid adapter name"):
        TrainConfig(qa="x", name="../evil")
    with pytest.raises(TrainingError, match="unknown quantization"):
        TrainConfig(qa="x", quant="fp8")  # type: ignore[arg-type]
    with pytest.raises(TrainingError, match="unknown source order"):
        TrainConfig(qa="x", source_order="sorted")  # type: ignore[arg-type]


def test_build_stats_add_up_and_survive_the_run_file():
    first = BuildStats(pairs=2, examples=6, oracle_present=5, oracle_by_document=2, unmatched_documents=["a.md"])
    total = first + BuildStats(pairs=1, examples=3, oracle_present=2, oracle_by_nearest=1)
    assert total.counts() == {"pairs": 3, "examples": 9, "oracle_present": 7, "oracle_by_document": 2,
                              "oracle_by_nearest": 1}
    assert total.unmatched_documents == ["a.md"]
    saved = json.loads(json.dumps(total.to_json()))
    assert saved["oracle_rate"] == round(7 / 9, 4)
    assert BuildStats.from_json(saved).counts() == total.counts()


def test_default_ranked_order_keeps_the_retrievers_ranks_and_places_unretrieved_oracles_at_random():
    retrieved = CANDIDATES[4]  # the oracle, ranked after three distinct distractors
    for seed in range(10):
        example = assemble_example("q", "chunk 4 text", [retrieved], CANDIDATES, k=4, p=1.0, rng=random.Random(seed))
        assert example.chunk_ids == [1, 2, 3, 4] and example.oracle_numbers == [4]
    places = set()
    for seed in range(30):
        example = assemble_example("q", "a", [chunk(9, "unretrieved")], CANDIDATES, k=4, p=1.0, rng=random.Random(seed))
        assert [c for c in example.chunk_ids if c != 9] == [1, 2, 3]  # distractors keep their rank order
        places.add(example.oracle_numbers[0])
    assert places == {1, 2, 3, 4}
    left_out = assemble_example("q", "a", [retrieved], CANDIDATES, k=4, p=0.0, rng=random.Random(0))
    assert left_out.chunk_ids == [1, 2, 3, 5] and left_out.oracle_numbers == []


def test_shuffled_order_shows_the_same_sources_with_the_oracle_anywhere():
    retrieved = CANDIDATES[4]
    ranked = assemble_example("q", "chunk 4 text", [retrieved], CANDIDATES, k=4, p=1.0, rng=random.Random(0))
    places = set()
    for seed in range(30):
        example = assemble_example("q", "chunk 4 text", [retrieved], CANDIDATES, k=4, p=1.0,
                                   rng=random.Random(seed), order="shuffled")
        assert sorted(example.chunk_ids) == sorted(ranked.chunk_ids)
        places.add(example.oracle_numbers[0])
    assert places == {1, 2, 3, 4}
