"""Models: embedded weights, loading (safetensors and GGUF only), prompts and chat templates,
padded batches, the run's model sources and the OpenAI-compatible client. Reference syntax is
:mod:`guiselab.refs`."""

from guiselab.models._batch import PaddedBatch, pad_batch, prefill
from guiselab.models._embedded import (
    EMBEDDED,
    cache_dir,
    materialize,
    require_embedded,
    sha256_file,
)
from guiselab.models._load import (
    LoadedModel,
    ModelIdentity,
    adapter_sha256,
    identify,
    load_model,
    pick_device,
)
from guiselab.models._nll import prompt_nll
from guiselab.models._openai import ChatRequest, ChatResult, LogprobsRefused, OpenAIBackend
from guiselab.models._prompt import (
    answer_ids,
    end_token_ids,
    prompt_ids,
    render_prompt,
    stop_strings,
)
from guiselab.models._sources import ModelSource, adapter_dir, model_sources, replicate_name
from guiselab.refs import ModelRef, parse_ref

__all__ = [
    "EMBEDDED",
    "ChatRequest",
    "ChatResult",
    "LoadedModel",
    "LogprobsRefused",
    "ModelIdentity",
    "ModelRef",
    "ModelSource",
    "OpenAIBackend",
    "PaddedBatch",
    "adapter_dir",
    "adapter_sha256",
    "answer_ids",
    "cache_dir",
    "end_token_ids",
    "identify",
    "load_model",
    "materialize",
    "model_sources",
    "pad_batch",
    "parse_ref",
    "pick_device",
    "prefill",
    "prompt_ids",
    "prompt_nll",
    "render_prompt",
    "replicate_name",
    "require_embedded",
    "sha256_file",
    "stop_strings",
]
