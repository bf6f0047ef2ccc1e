"""Expert utilization of a routing checkpoint on SST-2 dev (issue 17): per mixture-of-experts layer, the
share of routing slots (real tokens x top_k) each expert receives, and the dev accuracy.

    .venv/bin/neurolite train --train ../shared/data/sst2/train.tsv --eval ../shared/data/sst2/dev.tsv \
        --out runs/sst2-moe --set use_dynamic_routing=true --set num_experts=4 --set routing_top_k=2 \
        --no-distill --init scratch --epochs 2 --max-rows 20000
    .venv/bin/python -m benchmarks.expert_utilization runs/sst2-moe
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from neurolite_sdk.modeling.routing import expert_utilization
from neurolite_sdk.public_data import data_path
from neurolite_sdk.training.checkpoint import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint)
    model = checkpoint.model.eval()
    rows = [line.split("\t") for line in data_path("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    texts, gold = [r[0] for r in rows], [r[1] for r in rows]
    batches = [model.neurolite.featurize(texts[i:i + 128]) for i in range(0, len(texts), 128)]
    shares = expert_utilization(model, batches)
    with torch.no_grad():
        predicted = torch.cat([model(f, m)["logits"].argmax(-1) for f, m in batches]).tolist()
    accuracy = float(np.mean([checkpoint.labels[p] == g for p, g in zip(predicted, gold, strict=True)]))
    tokens = int(sum(m.sum() for _, m in batches))
    config = model.config
    print(f"{args.checkpoint}: {config.num_experts} experts, top-{config.routing_top_k}, SST-2 dev "
          f"{len(texts)} texts / {tokens:,} tokens, accuracy {accuracy:.2%}")
    for layer, share in enumerate(shares):
        print(f"  layer {layer}: " + "  ".join(f"e{e} {s:.1%}" for e, s in enumerate(share))
              + f"   (min {min(share):.1%})")


if __name__ == "__main__":
    main()
