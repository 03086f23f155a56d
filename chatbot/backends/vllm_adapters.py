"""The registry's adapters published to a vLLM server at run time (`/v1/load_lora_adapter`, vLLM started with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`). Each is published under `<name>@<sha12>`: a replaced adapter gets a new
name, so replicas sharing one vLLM never answer from a half-replaced one, and publishing twice is harmless."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import httpx

from chatbot.adapter_catalog import AdapterCatalog
from chatbot.adapters import AdapterInfo

log = logging.getLogger(__name__)
PUBLISHED = re.compile(r"^.+@[0-9a-f]{12}$")  # the names this module gives


class PublishError(RuntimeError):
    """The server refused an adapter; the message has its answer."""


def served_name(adapter: AdapterInfo) -> str:
    return f"{adapter.name}@{(adapter.sha256 or '')[:12]}"


class VllmAdapters:
    """Loads and unloads adapters on one vLLM server. `folder` is where the adapters' files are written for the
    server to read: the same path on both machines (a shared mount) when vLLM runs elsewhere."""

    def __init__(self, base_url: str, api_key: str, folder: Path, catalog: AdapterCatalog,
                 timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.folder = folder
        self.catalog = catalog
        self._http = httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
        self._published: set[str] = set()
        self._lock = threading.Lock()

    def publish(self, adapter: AdapterInfo) -> str:
        """Make the server answer as `adapter` (loaded once); returns the model name to ask for."""
        if adapter.sha256 is None:
            raise PublishError(f"adapter '{adapter.name}' is not registered with its files: run "
                               f"`ragbot adapters use {adapter.name}` on the machine that has them")
        name = served_name(adapter)
        with self._lock:
            if name in self._published:
                return name
            path = self.catalog.files(adapter, self.folder).resolve()
            answer = self._http.post(f"{self.base_url}/load_lora_adapter",
                                     json={"lora_name": name, "lora_path": str(path)})
            if answer.status_code != 200 and "already" not in answer.text:  # another replica published it
                raise PublishError(f"the server refused adapter '{adapter.name}': {answer.status_code} {answer.text}")
            self._published.add(name)
        log.info("adapter %s published to %s as %s", adapter.name, self.base_url, name)
        return name

    def served(self) -> set[str]:
        """The names of the adapters this module published that the server lists now (by any replica)."""
        answer = self._http.get(f"{self.base_url}/models")
        answer.raise_for_status()
        return {m["id"] for m in answer.json()["data"] if m.get("parent") and PUBLISHED.match(m["id"])}

    def withdraw_stale(self, current: list[AdapterInfo]) -> None:
        """Unload the published adapters that are not among `current` (replaced or deleted since)."""
        wanted = {served_name(a) for a in current if a.sha256}
        for name in self.served() - wanted:
            answer = self._http.post(f"{self.base_url}/unload_lora_adapter", json={"lora_name": name})
            with self._lock:
                self._published.discard(name)
            log.info("adapter %s unloaded from %s (%s)", name, self.base_url, answer.status_code)

    def close(self) -> None:
        self._http.close()
