"""The VLM: an OpenAI-compatible chat endpoint that writes programs and answers `sel_name`.

Uses the official `openai` client against any OpenAI-compatible server (`base_url`: OpenAI, a vLLM or
llama.cpp server, a proxy), temperature 0. Transient failures (connection errors, timeouts, HTTP 429 and
5xx) are retried with exponential backoff; anything else fails at once with an `LlmError` saying what
the endpoint answered. The API key is read from an environment variable, never from a file or an
argument, and never logged.

- `LlmProgramWriter` writes a program for an instruction and repairs it given the error it caused
  (the repair loop itself is `pipeline.run_instruction`).
- `VlmNameSelector` is the `sel_name` backend: it sends the composite image (numbered boxes) with the
  description and validates the number it gets back.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from codediffuser_codegen.api import SelectionError
from codediffuser_codegen.composite import composite_image, png_bytes
from codediffuser_codegen.program import Draft, GenerationError, extract_program
from codediffuser_codegen.prompting import Message, program_messages, read_prompt, repair_messages
from codediffuser_perception.types import FeatureCloud, Instance, PerceptionError

DEFAULT_KEY_ENVS = ("CODEDIFFUSER_LLM_API_KEY", "OPENAI_API_KEY")
"""Environment variables searched for the API key, in order."""


class LlmError(GenerationError):
    """The endpoint could not be used (no key, refused request, still failing after the retries)."""


@dataclass(frozen=True)
class LlmConfig:
    """How to reach the model.

    Attributes:
        model: model name as the endpoint knows it (must accept images for `VlmNameSelector`).
        base_url: the OpenAI-compatible endpoint, e.g. "http://localhost:8000/v1"; None = OpenAI.
        api_key_env: environment variable holding the key; None = the first set of `DEFAULT_KEY_ENVS`.
            Local servers that need no key get a placeholder.
        timeout_s: per-request timeout in seconds.
        retries: retries of a transient failure (so at most retries + 1 requests).
        backoff_s: the first retry waits this long, each next one twice as long.
        max_tokens: reply length cap.
        max_repairs: times a failing program goes back to the model with its error.
    """

    model: str = "gpt-4o"
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    max_tokens: int = 1024
    max_repairs: int = 2

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model must be a non-empty model name")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.retries < 0 or self.max_repairs < 0:
            raise ValueError(f"retries and max_repairs must be ≥ 0, got {self.retries}, {self.max_repairs}")
        if self.backoff_s < 0:
            raise ValueError(f"backoff_s must be ≥ 0, got {self.backoff_s}")


def api_key(config: LlmConfig) -> str | None:
    """The key from the environment (None when no variable is set)."""
    names = (config.api_key_env,) if config.api_key_env else DEFAULT_KEY_ENVS
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class LlmClient:
    """Chat completions at temperature 0 with retries; `complete(messages) -> reply text`."""

    def __init__(self, config: LlmConfig) -> None:
        import openai

        key = api_key(config)
        if key is None and config.base_url is None:
            names = config.api_key_env or " or ".join(DEFAULT_KEY_ENVS)
            raise LlmError(f"no API key: set {names} (or give base_url of a server that needs none)")
        self.config = config
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=key or "not-needed",
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=0,  # retried here, with this module's backoff and error messages
        )

    def complete(self, messages: Sequence[Message]) -> str:
        """The model's reply to a conversation.

        Raises:
            LlmError: a non-transient error, or a transient one that outlasted the retries.
        """
        openai = self._openai
        transient = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
        delay = self.config.backoff_s
        for attempt in range(self.config.retries + 1):
            try:
                response = self._client.chat.completions.create(
                    model=self.config.model,
                    messages=list(messages),
                    temperature=0.0,
                    max_tokens=self.config.max_tokens,
                )
            except transient as exc:
                if attempt == self.config.retries:
                    raise LlmError(
                        f"the model endpoint failed {attempt + 1} times; last: {type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(delay)
                delay *= 2
                continue
            except openai.APIError as exc:
                raise LlmError(
                    f"the model endpoint refused the request: {type(exc).__name__}: {exc}"
                ) from exc
            if not response.choices or response.choices[0].message.content is None:
                raise LlmError("the model endpoint returned no message")
            return response.choices[0].message.content
        raise AssertionError("unreachable")  # the loop returns or raises


class LlmProgramWriter:
    """Writes programs with the VLM; `write` for an instruction, `repair` after an error."""

    can_repair = True

    def __init__(self, client: LlmClient) -> None:
        self.client = client

    def write(self, instruction: str, task: str | None = None) -> Draft:
        """A first program for the instruction (scene and examples of `task`, or of every task).

        Raises:
            LlmError: the endpoint failed. A reply without code still returns a draft with an empty
                program, so that the repair loop can ask again.
        """
        messages = program_messages(instruction, task)
        return self._draft(messages)

    def repair(self, draft: Draft, error: str) -> Draft:
        """A corrected program, given the error the previous one caused."""
        return self._draft(repair_messages(draft.messages, draft.reply, error))

    def _draft(self, messages: list[Message]) -> Draft:
        reply = self.client.complete(messages)
        try:
            program = extract_program(reply)
        except GenerationError:
            program = ""
        return Draft(program=program, messages=messages, reply=reply)


class VlmNameSelector:
    """`sel_name` by the VLM: composite image of the candidates + description → chosen number.

    Raises (from `__call__`):
        SelectionError: no views / nothing visible, the model answered no valid number, or 0 (none).
    """

    def __init__(self, client: LlmClient, tile_width: int = 480) -> None:
        self.client = client
        self.tile_width = tile_width
        self.last_image = None
        """The composite image of the latest call (PIL), for pictures and logs."""

    def __call__(self, cloud: FeatureCloud, candidates: Sequence[Instance], description: str) -> Instance:
        try:
            image = composite_image(cloud, candidates, self.tile_width)
        except PerceptionError as exc:
            raise SelectionError(f"sel_name({description!r}): {exc}") from exc
        self.last_image = image
        data_url = "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
        messages = [
            {"role": "system", "content": read_prompt("select")},
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": f"Boxes 1 to {len(candidates)}. Which one is the {description}?",
                    },
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            },
        ]
        try:
            reply = self.client.complete(messages)
        except LlmError as exc:
            raise SelectionError(f"sel_name({description!r}): {exc}") from exc
        match = re.search(r"\d+", reply)
        if match is None:
            raise SelectionError(
                f"sel_name({description!r}): the model answered {reply[:80]!r}, not a box number"
            )
        number = int(match.group())
        if number == 0:
            raise SelectionError(f"sel_name({description!r}): the model sees no matching candidate")
        if not 1 <= number <= len(candidates):
            raise SelectionError(
                f"sel_name({description!r}): the model chose box {number}, but there are {len(candidates)}"
            )
        return candidates[number - 1]
