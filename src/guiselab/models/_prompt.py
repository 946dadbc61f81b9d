"""Turning a user message into model input: the chat template, or a plain one for base models."""

from __future__ import annotations

from typing import Any

__all__ = [
    "PLAIN_STOP",
    "answer_ids",
    "end_token_ids",
    "prompt_ids",
    "render_prompt",
    "stop_strings",
]

PLAIN_USER = "User: "
PLAIN_ASSISTANT = "\nAssistant:"
PLAIN_STOP = "\nUser:"
"""A base model continuing the plain template starts the next user turn with this."""


def render_prompt(tokenizer: Any, user_text: str, system: str | None = None) -> str:
    """The text a model sees before its answer."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": user_text})
        text: str = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return text
    head = f"System: {system}\n" if system else ""
    return f"{head}{PLAIN_USER}{user_text}{PLAIN_ASSISTANT}"


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of a rendered prompt (chat templates carry their own special tokens)."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    ids: list[int] = tokenizer(text, add_special_tokens=not chat)["input_ids"]
    return ids


def answer_ids(tokenizer: Any, answer: str) -> list[int]:
    """Token ids of an assistant answer as the model should produce it, ending in EOS."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    text = answer if chat else " " + answer
    ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [*ids, tokenizer.eos_token_id]


def end_token_ids(lm: Any) -> set[int]:
    """Tokens that end an answer: the tokenizer's EOS and the generation config's (a chat
    model's end-of-turn token is often only listed there)."""
    ids = {lm.tokenizer.eos_token_id}
    configured = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, list):
        ids.update(int(i) for i in configured)
    return {i for i in ids if i is not None}


def stop_strings(tokenizer: Any) -> list[str]:
    """Strings that end an answer besides EOS."""
    return [] if getattr(tokenizer, "chat_template", None) else [PLAIN_STOP]
