"""``neurolite generate``, ``neurolite export-generator`` and ``neurolite train --task generation``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from neurolite_sdk.cli.common import FiniteFloatRange, configure_threads, console, echo_json, shown, user_errors

STEP_FORMATS = ("onnx", "executorch", "tflite", "coreml")


def train_generation(train_path: Path, eval_path: Path, out_dir: Path, config_path: Path | None,
                     overrides: dict[str, Any], epochs: int, batch_size: int, learning_rate: float,
                     weight_decay: float, seed: int, threads: int | None, max_rows: int | None, overwrite: bool,
                     max_steps: int | None, seq_len: int) -> None:
    """The body of ``neurolite train --task generation`` (called inside the train command's error handler)."""
    configure_threads(threads)
    from neurolite_sdk.errors import json_loads
    from neurolite_sdk.generation.config import GenerationConfig, GenerationConfigError
    from neurolite_sdk.generation.train import GenerationTrainJob, train_generator

    base = json_loads(config_path.read_text(encoding="utf-8"), GenerationConfigError, str(config_path)) \
        if config_path else {}
    config = GenerationConfig.from_dict({**base, **overrides})
    job = GenerationTrainJob(train_path=train_path, eval_path=eval_path, out_dir=out_dir, config=config,
                             epochs=epochs, batch_size=batch_size, seq_len=seq_len, learning_rate=learning_rate,
                             weight_decay=weight_decay, seed=seed, max_rows=max_rows, max_steps=max_steps,
                             overwrite=overwrite)
    started = time.perf_counter()
    report = train_generator(job, log=lambda line: console.print(line, markup=False))
    metrics = report["eval"]
    words = f", {metrics['perplexity_per_word']:.1f} per word" if "perplexity_per_word" in metrics else ""
    console.print(f"[bold]held-out perplexity[/bold] {metrics['perplexity_per_byte']:.3f} per byte "
                  f"({metrics['bits_per_byte']:.3f} bits/byte{words}) on {report['eval_bytes']:,} bytes of "
                  f"{shown(str(eval_path))}; {report['parameters']:,} parameters, {report['steps']} steps in "
                  f"{time.perf_counter() - started:.0f} s with {os.environ.get('NEUROLITE_THREADS', '?')} threads; "
                  f"checkpoint: {shown(str(out_dir))}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("prompt")
@click.option("--max-new-tokens", default=64, show_default=True, type=click.IntRange(0, 1 << 20),
              help="Bytes to generate (the model writes UTF-8 bytes; a character may take up to 4).")
@click.option("--temperature", default=0.8, show_default=True, type=FiniteFloatRange(min=0),
              help="Softmax temperature; 0 is greedy.")
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(0, 256),
              help="Keep the K likeliest bytes (0: all).")
@click.option("--top-p", default=1.0, show_default=True, type=FiniteFloatRange(0, 1, min_open=True),
              help="Keep the smallest set of bytes whose probability reaches P (nucleus sampling).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Makes sampling repeatable.")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="CPU threads (default: $OMP_NUM_THREADS, else all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print prompt, continuation and timing as JSON.")
def generate_command(model: Path, prompt: str, max_new_tokens: int, temperature: float, top_k: int, top_p: float,
                     seed: int, threads: int | None, as_json: bool) -> None:
    """Continue PROMPT with MODEL: a generation checkpoint (PyTorch) or a step bundle from
    `neurolite export-generator` (ONNX, ExecuTorch or LiteRT; no PyTorch needed but for ExecuTorch)."""
    with user_errors():
        from neurolite_sdk.runtime.generation import is_step_bundle

        started = time.perf_counter()
        if is_step_bundle(model):
            from neurolite_sdk.runtime.generation import generate, load_step_bundle

            bundle = load_step_bundle(model)
            text = generate(bundle, prompt, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                            seed=seed, threads=threads)
            engine = bundle.format
        else:
            configure_threads(threads)
            from neurolite_sdk.generation.api import generate_text
            from neurolite_sdk.generation.checkpoint import load_generator

            checkpoint = load_generator(model)
            text = generate_text(checkpoint.model, prompt, max_new_tokens, temperature=temperature, top_k=top_k,
                                 top_p=top_p, seed=seed)
            engine = "pytorch"
        seconds = time.perf_counter() - started
    if as_json:
        echo_json({"model": str(model), "engine": engine, "prompt": prompt, "continuation": text,
                   "max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k, "top_p": top_p,
                   "seed": seed, "seconds": seconds})
        return
    click.echo(prompt + text)


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(STEP_FORMATS), help="Step-graph format.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Step bundle directory.")
@click.option("--overwrite", is_flag=True, help="Replace an existing step bundle at --out.")
@click.option("--force", is_flag=True, help="Write the bundle even if parity fails (recorded in generation.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the bundle's manifest as JSON.")
def export_generator_command(checkpoint: Path, fmt: str, out_dir: Path, overwrite: bool, force: bool,
                             as_json: bool) -> None:
    """Export CHECKPOINT's step graph (one byte in; logits and the updated state out) to a step bundle,
    checked against PyTorch on a fixed prompt."""
    with user_errors():
        configure_threads(None)
        from neurolite_sdk.exporters.step_graph import export_step_bundle
        from neurolite_sdk.generation.checkpoint import load_generator

        manifest = export_step_bundle(load_generator(checkpoint).model, fmt, out_dir, overwrite=overwrite,
                                      force=force)
    if as_json:
        echo_json(manifest)
        return
    parity = manifest["parity"]
    if parity.get("skipped"):
        note = f"parity skipped: {parity['skipped']}"
    else:
        note = (f"parity {'passed' if parity['passed'] else 'FAILED'}: max |Δlogit| "
                f"{parity['max_abs_logit_diff']:.2g}, "
                f"max |Δstate| {parity['max_abs_state_diff']:.2g} over {parity['steps']} steps")
    console.print(f"[bold]{fmt}[/bold] step bundle: {shown(str(out_dir))} ({note})")
