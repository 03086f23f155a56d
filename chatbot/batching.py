"""Continuous batching for one local model: every answer being generated advances in the same forward pass.

A request's prompt is prefilled alone (no padding); its key/value cache then joins the running batch, left-padded
to a common length. Each decode step feeds every row its last token and picks the next greedily; finished or
abandoned rows leave, and padding no row needs any more is trimmed. Measured on 2 CPU cores (SmolLM2-135M, bf16,
1,300-token prompts): a decode step costs 43 ms for one row and 64 ms for eight, so eight answers take ~1.4× the
time of one. transformers' own continuous batching (`generate_batch`, paged attention) ran at 0.65× sequential
`generate` there, hence this small scheduler; a GPU server (vLLM) is the `openai` generator's job.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers.cache_utils import Cache, DynamicLayer

# (input_ids, attention_mask, position_ids, cache, adapter per row) → next-token logits, one row per input row
Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Cache, list[str | None]], torch.Tensor]
_END = object()
IDLE_EXIT_S = 30.0
CLOSE_WAIT_S = 60.0  # the longest a closing batcher waits for the forward pass in flight
_OPEN: weakref.WeakSet[ContinuousBatcher] = weakref.WeakSet()


class BatcherClosed(RuntimeError):
    """The batcher was closed (the process is ending) before this answer finished."""


@atexit.register
def _close_open_batchers() -> None:
    """A scheduler thread still inside torch when the interpreter finalizes aborts the process ("terminate called
    without an active exception"), e.g. a CLI that stops reading an answer early and exits. atexit runs while
    daemon threads still run, so each batcher stops here and its thread is joined."""
    for batcher in list(_OPEN):
        batcher.close()


@dataclass(frozen=True)
class Decoding:
    """Repetition control for greedy decoding, on the answer's own tokens only (the prompt is not looked at, so
    copying sources stays allowed). `no_repeat_ngram`: 0 = off; `repetition_penalty`: 1.0 = off."""

    no_repeat_ngram: int = 6
    repetition_penalty: float = 1.0


def banned_next_tokens(generated: list[int], n: int = 6) -> set[int]:
    """Tokens that would repeat an n-gram of the answer itself. Stops the citation loops ("[4] [4] [4] …") and
    phrase loops small models fall into."""
    if n < 1 or len(generated) < n:
        return set()
    prefix = tuple(generated[-(n - 1):])
    return {generated[i + n - 1] for i in range(len(generated) - n + 1) if tuple(generated[i: i + n - 1]) == prefix}


def penalize_repeats(logits: torch.Tensor, generated: list[int], penalty: float) -> None:
    """CTRL's repetition penalty, in place, on the tokens the answer has already used: a positive logit is
    divided by `penalty`, a negative one multiplied."""
    if penalty == 1.0 or not generated:
        return
    used = torch.tensor(sorted(set(generated)), device=logits.device)
    scores = logits[used]
    logits[used] = torch.where(scores > 0, scores / penalty, scores * penalty)


class RoomyLayer(DynamicLayer):
    """A cache layer whose keys/values sit at the end of the used part of a buffer with spare columns, so a decode
    step writes one column in place instead of copying the whole cache (with 12 rows of 1,500 tokens that copy was
    ~440 MB a step), and a batch change copies each row once into a fresh buffer (peak: twice the cache)."""

    ROOM = 256

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object,
               **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.rebuild([(key_states, value_states)], key_states.shape[-2])
            return self.keys, self.values
        length, new = self.keys.shape[-2], key_states.shape[-2]
        if length + new > self._key_buffer.shape[-2]:
            self.rebuild([(self.keys, self.values)], length, room=new + self.ROOM)
        self._key_buffer[..., length: length + new, :] = key_states
        self._value_buffer[..., length: length + new, :] = value_states
        self.keys = self._key_buffer[..., : length + new, :]
        self.values = self._value_buffer[..., : length + new, :]
        return self.keys, self.values

    def rebuild(self, parts: list[tuple[torch.Tensor, torch.Tensor]], width: int, room: int = ROOM) -> None:
        """Stack `parts` (keys, values: [rows, heads, length, dim]) row-wise, each right-aligned in `width` columns
        (zeros on the left: the padding), in fresh buffers with `room` spare columns."""
        rows = sum(keys.shape[0] for keys, _ in parts)
        buffers = []
        for which in (0, 1):
            first = parts[0][which]
            buffer = first.new_zeros(rows, first.shape[1], width + room, first.shape[3])
            row = 0
            for part in parts:
                tensor = part[which]
                buffer[row: row + tensor.shape[0], :, width - tensor.shape[2]: width] = tensor
                row += tensor.shape[0]
            buffers.append(buffer)
        self._key_buffer, self._value_buffer = buffers
        self.keys = self._key_buffer[..., :width, :]
        self.values = self._value_buffer[..., :width, :]


def new_cache() -> Cache:
    return Cache(layer_class_to_replicate=RoomyLayer)


@dataclass(eq=False)
class _Request:
    prompt: list[int]
    adapter: str | None
    max_new_tokens: int
    pieces: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # text, then _END or an exception
    generated: list[int] = field(default_factory=list)
    sent: int = 0  # characters of the decoded answer already handed out
    abandoned: bool = False


class ContinuousBatcher:
    """Runs requests on one background thread, up to `max_batch` rows at once; `stream` yields an answer's text."""

    def __init__(self, forward: Forward, decode: Callable[[list[int]], str], eos: set[int],
                 max_batch: int, device: torch.device | str = "cpu", decoding: Decoding | None = None) -> None:
        self.forward = forward
        self.decoding = decoding or Decoding()
        self.decode = decode
        self.eos = eos
        self.max_batch = max_batch
        self.device = device
        self._pending: queue.Queue[_Request | None] = queue.Queue()  # None: close's wake-up
        self._rows: list[_Request] = []
        self._cache: Cache | None = None
        self._mask = torch.zeros(0, 0, dtype=torch.long, device=device)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        _OPEN.add(self)

    @property
    def running(self) -> int:
        """Rows in the batch now."""
        return len(self._rows)

    def stream(self, prompt: list[int], adapter: str | None, max_new_tokens: int) -> Iterator[str]:
        """Queue a prompt (token ids) and yield its answer's text as it is generated. Closing the iterator early
        takes the request out of the batch at the next step."""
        request = _Request(prompt, adapter, max_new_tokens)
        self._pending.put(request)
        self._ensure_thread()
        try:
            while (item := request.pieces.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.abandoned = True

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Stop the scheduler after its forward pass in flight and wait for it; answers not finished, queued or
        running, end with `BatcherClosed`. Idempotent; a closed batcher takes no new requests."""
        with self._start_lock:
            self._closed, thread = True, self._thread
        self._pending.put(None)  # wakes an idle scheduler
        if thread is not None:
            thread.join(wait_s)
        _OPEN.discard(self)

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._closed:
                raise BatcherClosed("the local model is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ragbot-batcher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """The scheduler: admit one waiting request, step the batch, repeat. It exits after IDLE_EXIT_S without
        work (and restarts on demand), so that an unused model can be freed."""
        with torch.inference_mode():
            while True:
                if self._closed:
                    self._end_all()
                    return
                try:
                    if not self._rows:
                        request = self._wait()
                        if request is not None:
                            self._admit(request)
                        elif not self._closed:
                            return
                        continue
                    if len(self._rows) < self.max_batch:
                        with contextlib.suppress(queue.Empty):
                            self._admit(self._pending.get_nowait())
                    self._step()
                except Exception as exc:  # the batch is lost; every request in it hears why
                    self._end_batch(exc)

    def _end_all(self) -> None:
        """On close: every answer running or queued hears why it ends."""
        closed = BatcherClosed("the local model closed before this answer finished")
        while True:
            try:
                request = self._pending.get_nowait()
            except queue.Empty:
                break
            if request is not None:
                request.pieces.put(closed)
        self._end_batch(closed)

    def _end_batch(self, reason: BaseException) -> None:
        """Every row of the batch hears `reason`, and the batch is emptied."""
        for request in self._rows:
            request.pieces.put(reason)
        self._rows, self._cache = [], None

    def _wait(self) -> _Request | None:
        """The next request; None when woken by `close`, or once idle for IDLE_EXIT_S with nothing queued (the
        thread then ends)."""
        try:
            return self._pending.get(timeout=IDLE_EXIT_S)
        except queue.Empty:
            with self._start_lock:
                if self._pending.empty():
                    self._thread = None
                    return None
            return self._pending.get()

    def _admit(self, request: _Request | None) -> None:
        """Prefill a request alone and add it to the batch (unless it is already finished or abandoned; None is
        `close`'s wake-up)."""
        if request is None or request.abandoned:
            return
        try:
            cache = new_cache()
            ids = torch.tensor([request.prompt], device=self.device)
            mask = torch.ones_like(ids)
            positions = torch.arange(ids.shape[1], device=self.device)[None]
            finished = self._choose(request, self.forward(ids, mask, positions, cache, [request.adapter])[0])
        except Exception as exc:  # this prompt failed (too long, adapter gone…); the batch goes on
            request.pieces.put(exc)
            return
        if not finished:
            self._join(request, cache, mask)

    def _join(self, request: _Request, cache: Cache, mask: torch.Tensor) -> None:
        if self._cache is None:
            self._rows, self._cache, self._mask = [request], cache, mask
            return
        self._rows.append(request)  # first, so that a failure below reaches it with the rest of the batch
        width = max(self._mask.shape[1], mask.shape[1])
        for layer, new in zip(self._cache.layers, cache.layers, strict=True):
            layer.rebuild([(layer.keys, layer.values), (new.keys, new.values)], width)
        merged = self._mask.new_zeros(len(self._rows), width)
        merged[:-1, width - self._mask.shape[1]:] = self._mask
        merged[-1, width - mask.shape[1]:] = mask[0]
        self._mask = merged

    def _step(self) -> None:
        """One decode step for every row; rows that finished or were abandoned leave the batch."""
        rows = self._rows
        tokens = torch.tensor([[r.generated[-1]] for r in rows], device=self.device)
        self._mask = torch.cat([self._mask, self._mask.new_ones(len(rows), 1)], dim=1)
        positions = self._mask.sum(dim=1, keepdim=True) - 1
        logits = self.forward(tokens, self._mask, positions, self._cache, [r.adapter for r in rows])
        keep = [i for i, r in enumerate(rows) if not self._choose(r, logits[i]) and not r.abandoned]
        if len(keep) < len(rows):
            self._shrink(keep)

    def _shrink(self, keep: list[int]) -> None:
        if not keep:
            self._rows, self._cache = [], None
            return
        index = torch.tensor(keep, device=self.device)
        self._rows = [self._rows[i] for i in keep]
        self._mask = self._mask[index]
        start = int(self._mask.any(dim=0).nonzero()[0])  # columns before it are padding in every row left
        self._mask = self._mask[:, start:]
        for layer in self._cache.layers:
            layer.rebuild([(layer.keys[index, :, start:], layer.values[index, :, start:])], self._mask.shape[1])

    def _choose(self, request: _Request, logits: torch.Tensor) -> bool:
        """Pick the next token greedily (under `decoding`'s repetition control), hand out the new text; True when
        the request is finished."""
        if request.abandoned:
            return True
        penalize_repeats(logits, request.generated, self.decoding.repetition_penalty)
        banned = banned_next_tokens(request.generated, self.decoding.no_repeat_ngram)
        if banned:
            logits[list(banned)] = float("-inf")
        token = int(logits.argmax())
        finished = token in self.eos
        if not finished:
            request.generated.append(token)
        finished = finished or len(request.generated) >= request.max_new_tokens
        text = self.decode(request.generated)
        if len(text) > request.sent and (finished or not text.endswith("\ufffd")):  # hold back a split character
            request.pieces.put(text[request.sent:])
            request.sent = len(text)
        if finished:
            request.pieces.put(_END)
        return finished
