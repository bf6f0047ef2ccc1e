"""Multimodal input (issue 18) on real data, nothing downloaded: handwritten digits seen, spoken and named.

Images are scikit-learn's bundled ``load_digits`` (8x8); audio is each digit's English name spoken by
espeak-ng on this machine (held-out accents for the held-out split, noise added); text is a caption in
one of five languages, misspelt half of the time; video is the digit drifting over three frames
(``neurolite_sdk/multimodal_digits.py``). The model is trained with modality dropout, then evaluated
on the held-out split for every subset of modalities, and optionally exported with parity.

    .venv/bin/python examples/multimodal_input_example.py [--epochs 30] [--fusion tokens|adaptive|sequence]
        [--single 0.3] [--seed 0] [--fixed-captions] [--export onnx,executorch,tflite,coreml]
        [--out runs/multimodal-digits] [--json results.json]

Needs espeak-ng (``apt-get install espeak-ng``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.modeling.model import NeuroLiteForClassification, count_parameters
from neurolite_sdk.multimodal_digits import SAMPLE_RATE, build_digits, evaluate_subsets, train_digits

AUDIO_FRAMES, AUDIO_MELS, VIDEO_FRAMES = 64, 32, 3


def demo_config(fusion: str = "tokens") -> NeuroLiteConfig:
    # the sequence fusion's backbone sees 1 text + 4 image patches + 16 audio steps + 3 video frames = 24 tokens
    return NeuroLiteConfig(use_multimodal_input=True, use_cross_modal_attention=True, multimodal_fusion=fusion,
                           hidden_size=64, max_length=24 if fusion == "sequence" else 16,
                           num_buckets=1024, embedding_dim=32, num_mixer_layers=2, token_mixing_dim=16,
                           channel_mixing_dim=128, multimodal_audio_sample_rate=SAMPLE_RATE,
                           multimodal_audio_frames=AUDIO_FRAMES, multimodal_audio_mels=AUDIO_MELS,
                           multimodal_video_num_sampled_frames=VIDEO_FRAMES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fusion", choices=("tokens", "adaptive", "sequence"), default="tokens")
    parser.add_argument("--single", type=float, default=0.3,
                        help="fraction of training items that keep one modality only (modality dropout is 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fixed-captions", action="store_true",
                        help="train on the split's captions every epoch (the earlier recipe; see train_digits)")
    parser.add_argument("--export", default="", help="comma-separated formats to export with parity")
    parser.add_argument("--out", default="runs/multimodal-digits")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    started = time.perf_counter()
    train, test = build_digits(AUDIO_FRAMES, AUDIO_MELS, VIDEO_FRAMES, seed=args.seed)
    data_seconds = time.perf_counter() - started
    print(f"data: {len(train)} train / {len(test)} held-out items ({data_seconds:.0f} s, espeak-ng audio)")
    config = demo_config(args.fusion)
    model = NeuroLiteForClassification(config, num_labels=10)
    started = time.perf_counter()
    losses = train_digits(model, train, epochs=args.epochs, single=args.single, seed=args.seed,
                          fresh_captions=not args.fixed_captions)
    train_seconds = time.perf_counter() - started
    print(f"model: {count_parameters(model):,} parameters; {args.epochs} epochs in {train_seconds:.0f} s, "
          f"final loss {losses[-1]:.4f}")
    accuracy = evaluate_subsets(model, test)
    print("held-out accuracy by modality subset:")
    for subset, value in accuracy.items():
        print(f"  {subset:<24} {value:.2%}")
    results = {"config": config.to_dict(), "single": args.single, "seed": args.seed,
               "fresh_captions": not args.fixed_captions, "parameters": count_parameters(model),
               "train_items": len(train),
               "test_items": len(test), "epochs": args.epochs, "train_seconds": round(train_seconds, 1),
               "accuracy": accuracy, "exports": {}}
    formats = [f for f in args.export.split(",") if f]
    if formats:
        from neurolite_sdk.exporters.multimodal import export_multimodal_bundle

        labels = [str(d) for d in range(10)]
        items = test.inputs(("text", "image", "audio", "video"), slice(0, 128))
        items["text"] = [t if i % 4 else None for i, t in enumerate(items["text"])]  # some items without text
        items["audio"] = [a if i % 3 else None for i, a in enumerate(items["audio"])]  # or without audio
        for fmt in formats:
            started = time.perf_counter()
            manifest = export_multimodal_bundle(model, labels, fmt, Path(args.out) / fmt, items, overwrite=True)
            parity = manifest["parity"]
            results["exports"][fmt] = {"seconds": round(time.perf_counter() - started, 1), "status": parity["status"],
                                       "reason": parity["reason"], "max_abs_logit": parity["max_abs_logit"],
                                       "top1_agreement": parity["top1_agreement"],
                                       "signatures": sorted(parity["signatures"]),
                                       "bytes": sum(r["bytes"] for r in manifest["files"].values())}
            print(f"export {fmt}: parity {parity['status']}"
                  + (f", max |delta logit| {parity['max_abs_logit']:.2g} over {len(parity['signatures'])} signatures"
                     if parity["status"] == "passed" else f" ({parity['reason']})"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
