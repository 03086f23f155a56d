"""Generator choices in a real browser, on a server of its own whose home starts with no adapter: `extractive`
answers with cited sentences of the right source, and `finetuned` is offered only once `ragbot train` made one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import ANSWER_TIMEOUT_MS, Server, browsing, ragbot, screenshot, serving
from tests.e2e.test_ui import ask, choose_mode, latest_message

pytestmark = pytest.mark.e2e

RESET_DOC = "RESTARTING, RESETTING AND RECOVERING YOUR LUMIO HOME HUB"
TRAIN_SECONDS = 900  # two QLoRA steps on 2 shared cores, model loading included


@pytest.fixture(scope="module")
def fresh_server(ragbot_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose RAGBOT_HOME has the prepared models but no adapter and a database of its own."""
    home = tmp_path_factory.mktemp("fresh-home")
    (home / "models").symlink_to((ragbot_home / "models").resolve(), target_is_directory=True)
    with serving(home, tmp_path_factory.mktemp("fresh")) as running:
        yield running


@pytest.fixture
def fresh_page(browser, fresh_server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    with browsing(browser, fresh_server.url, request.node.name) as page:
        yield page


def expect_radios(page: Page, names: list[str]) -> None:
    """The Chat radio offers exactly `names`."""
    radios = page.locator("#chat-mode").get_by_role("radio")
    expect(radios).to_have_count(len(names))
    for name in names:
        expect(page.locator("#chat-mode").get_by_role("radio", name=name, exact=True)).to_have_count(1)


def dropdown_texts(page: Page, elem_id: str) -> str:
    """Every option of a dropdown, as one text."""
    page.locator(f"#{elem_id} input").click()
    expect(page.get_by_role("option").first).to_be_visible()
    texts = " ".join(page.get_by_role("option").all_inner_texts())
    page.keyboard.press("Escape")
    return texts


def test_extractive_answers_with_cited_sentences_of_the_right_source(fresh_page: Page,
                                                                     fresh_server: Server) -> None:
    page = fresh_page
    page.goto("/")
    expect(page.locator("#generator-info")).to_contain_text("SmolLM2-135M")
    expect(page.locator("#generator-info")).to_contain_text("RAGBOT_OPENAI_BASE_URL")
    choose_mode(page, "extractive")
    ask(page, "How do I factory reset the hub?")
    expect(page.locator("#chat-status")).to_contain_text("Answered by extractive", timeout=ANSWER_TIMEOUT_MS)
    answer = page.locator('#chat [data-testid="bot"]').last
    expect(answer).to_contain_text("hold the reset button for 15 seconds")
    expect(answer).to_contain_text("[1]")
    sources = page.locator("#chat-sources")
    expect(sources).to_contain_text("Cited sources")
    expect(sources.locator(".rb-source").first).to_contain_text(RESET_DOC)
    expect(sources).to_contain_text("factory-reset-and-recovery.txt")
    expect(sources).not_to_contain_text(str(Path.cwd()))  # a file name, never the server's folders
    _, _, generator, _, stored = latest_message(fresh_server)
    assert generator == "extractive" and "[1]" in stored
    screenshot(page, "chat-extractive")


def test_finetuned_is_offered_only_after_an_adapter_is_trained(fresh_page: Page, fresh_server: Server) -> None:
    page = fresh_page
    page.goto("/")
    expect_radios(page, ["base", "extractive"])
    note = page.locator("#chat-finetuned-note")
    expect(note).to_contain_text("Admin → Fine-tuning")
    expect(note).to_contain_text("ragbot train")
    page.get_by_role("tab", name="Compare").click()
    expect(page.locator("#compare-second input")).to_have_value("extractive")
    options = dropdown_texts(page, "compare-first")
    assert "extractive" in options and "finetuned" not in options
    expect(page.locator("#compare-finetuned-note")).to_contain_text("ragbot train")

    env = {**fresh_server.env, "RAGBOT_TORCH_THREADS": os.environ.get("RAGBOT_TORCH_THREADS", "2")}
    ragbot(env, "train", "--qa", "examples/qa.jsonl", "--name", "e2e-tiny", "--max-steps", "2",
           timeout=TRAIN_SECONDS)

    page.reload()
    expect_radios(page, ["base", "extractive", "finetuned", "finetuned:e2e-tiny"])
    expect(page.locator("#chat-finetuned-note")).not_to_contain_text("ragbot train")
    page.get_by_role("tab", name="Compare").click()
    expect(page.locator("#compare-second input")).to_have_value("finetuned")
    screenshot(page, "compare-finetuned-offered")
