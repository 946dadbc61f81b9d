"""The sampling stage: answers from every model to every pair in both guises.

Each sample has its own seed, derived from the run seed, the pair, the guise and the sample
index, and its own random generator, so which other prompts share its batch does not change
its random numbers, and a resumed run draws what an uninterrupted one would have drawn. What
batching does change is the last bits of the matrix products: in float32 that rarely moves a
draw (on Gemma 3 270M, 23 of 24 samples were token-identical between batch 24 and batch 1),
in bfloat16 it usually does after a few tokens. Either way every sample is a draw from the
same model.

Four engines sample (``Engine``): guiselab's batched HF sampler in this process or on Ray
actors, vLLM, and an OpenAI-compatible server for remote models; ``engine_name`` picks one per
model and ``generate_stage`` calls each the same way.
"""

from guiselab.generate._engine import ENGINES, Engine, engine_name
from guiselab.generate._sampler import Completion, sample_batch, sample_texts
from guiselab.generate._stage import generate_stage
from guiselab.generate._tasks import (
    GenerationTask,
    ModelTasks,
    batches,
    encode_tasks,
    pending_batches,
    plan_generations,
    record,
    sample_seed,
)
from guiselab.generate._vllm import (
    Agreement,
    VllmEngine,
    agreement,
    check_against_hf,
    merge_adapter,
    require_vllm,
    sampling_kwargs,
)

__all__ = [
    "ENGINES",
    "Agreement",
    "Completion",
    "Engine",
    "GenerationTask",
    "ModelTasks",
    "VllmEngine",
    "agreement",
    "batches",
    "check_against_hf",
    "encode_tasks",
    "engine_name",
    "generate_stage",
    "merge_adapter",
    "pending_batches",
    "plan_generations",
    "record",
    "require_vllm",
    "sample_batch",
    "sample_seed",
    "sample_texts",
    "sampling_kwargs",
]
