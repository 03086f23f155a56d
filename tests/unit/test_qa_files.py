"""QA uploads keep a safe .jsonl name (the one file-name cleaner, ingestion.uploads.safe_filename, underneath)."""

from chatbot.qa_files import safe_name


def test_a_qa_upload_name_is_plain_visible_and_jsonl():
    assert safe_name("../../etc/passwd") == "passwd.jsonl"
    assert safe_name("C:\\\\Users\\\\me\\\\faq.json") == "faq.jsonl"
    assert safe_name(".hidden.jsonl") == "hidden.jsonl"
    assert safe_name("q&a $(rm -rf).jsonl") == "q_a _rm -rf_.jsonl"
    assert safe_name("...") == "upload.jsonl"
