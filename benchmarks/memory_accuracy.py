"""Memory accuracy: the predicted peak of an inference forward and of a training step with Adam, beside
the peak PyTorch really allocates (the allocator's record, ``torch.profiler`` with ``profile_memory``) and
torchinfo's estimate, per model; backward contraction FLOPs beside ``torch.utils.flop_counter``'s; the
resident set of modelling a step far larger than this machine.

Targets (issue "What it takes to run and to train"): inference within ±5% of the measured peak, a training
step with Adam within ±10%, on every model; ResNet-50 at batch 256, 1024², in training mode modelled in
under 2 GB of RSS. Each analysis is timed once (first call of the model in this process: the case a
user sees); torch runs on one thread.

    python benchmarks/memory_accuracy.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from costmodel import CostModelError, memory_report  # noqa: E402
from costmodel.inputs import TensorSpec, materialise, normalise_inputs  # noqa: E402
from costmodel.memory.measure import measured_peak  # noqa: E402
from costmodel.zoo import ZOO  # noqa: E402

MiB = 2**20


def corpus(quick: bool) -> list[tuple[str, nn.Module, Any]]:
    import transformers

    torch.manual_seed(0)
    models: list[tuple[str, nn.Module, Any]] = [
        ("resnet18", ZOO["resnet18"](), (8, 3, 224, 224)),
        ("resnet50", ZOO["resnet50"](), (2, 3, 224, 224)),
        ("mobilenet_v2", ZOO["mobilenet_v2"](), (8, 3, 224, 224)),
        ("shufflenet_v2_x1_0", ZOO["shufflenet_v2_x1_0"](), (8, 3, 224, 224)),
    ]
    if quick:
        return models
    ids = {"input_ids": TensorSpec((4, 128), torch.int64)}
    hf: list[tuple[str, Any, Any]] = [
        ("hf ResNet-50", transformers.ResNetModel(transformers.ResNetConfig()), (2, 3, 224, 224)),
        ("hf ConvNeXt-T", transformers.ConvNextModel(transformers.ConvNextConfig()), (2, 3, 224, 224)),
        ("hf ViT-B/16", transformers.ViTModel(transformers.ViTConfig()), (2, 3, 224, 224)),
        ("hf Swin-T", transformers.SwinModel(transformers.SwinConfig()), (2, 3, 224, 224)),
        ("hf MobileViT", transformers.MobileViTModel(transformers.MobileViTConfig()), (2, 3, 256, 256)),
        ("hf BERT-base", transformers.BertModel(transformers.BertConfig()), ids),
        ("hf GPT-2", transformers.GPT2Model(transformers.GPT2Config()), ids),
        ("hf Wav2Vec2", transformers.Wav2Vec2Model(transformers.Wav2Vec2Config()), (2, 16000)),
    ]
    return models + [(n, m.eval(), i) for n, m, i in hf]


def torchinfo_bytes(model: nn.Module, inputs: Any) -> int | None:
    """torchinfo's 'Estimated Total Size' (input + forward/backward pass + params), or None."""
    try:
        import torchinfo
    except ImportError:
        return None
    spec = normalise_inputs(inputs)

    def make(s: TensorSpec) -> torch.Tensor:
        dtype = s.dtype or torch.float32
        return torch.randn(s.shape) if dtype.is_floating_point else torch.zeros(s.shape, dtype=dtype)

    data = materialise(spec.kwargs, make) if spec.kwargs else materialise(list(spec.args), make)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = torchinfo.summary(copy.deepcopy(model), input_data=data, verbose=0)
    except Exception:
        return None
    return int(stats.total_input + stats.total_output_bytes + stats.total_param_bytes)


def rss_of_huge_step() -> tuple[int, int, float]:
    code = (
        "import resource, time, torch\n"
        "from costmodel import memory_report\n"
        "from costmodel.zoo import ZOO\n"
        "t = time.perf_counter()\n"
        "r = memory_report(ZOO['resnet50'](), (256, 3, 1024, 1024), mode='train', optimizer='adam')\n"
        "seconds = time.perf_counter() - t\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
        "print(r.peak, int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, seconds)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1]) * 1024, float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="The zoo only.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, CPU; peaks in MiB; error = (predicted - measured) / measured\n")
    header = f"{'model':20s} {'mode':10s} {'predicted':>10s} {'measured':>10s} {'error':>8s} {'torchinfo':>10s} {'ti error':>9s}"
    header += f" {'ours s':>7s}"
    print(header)
    print("-" * len(header))
    worst = {"inference": 0.0, "train": 0.0}
    for name, model, inputs in corpus(args.quick):
        for mode, optimizer in (("inference", None), ("train", "adam")):
            start = time.perf_counter()
            try:
                predicted = memory_report(model, inputs, mode=mode, optimizer=optimizer)  # type: ignore[arg-type]
            except CostModelError as exc:  # a step whose path depends on values (LayerDrop draws a number)
                print(f"{name:20s} {mode:10s} refused: {exc}", flush=True)
                continue
            seconds = time.perf_counter() - start
            measured = measured_peak(model, inputs, mode=mode, optimizer=optimizer)  # type: ignore[arg-type]
            error = (predicted.peak - measured.peak) / measured.peak
            worst[mode] = max(worst[mode], abs(error))
            info = torchinfo_bytes(model, inputs)
            info_text = f"{info / MiB:10.1f}" if info else f"{'n/a':>10s}"
            info_error = f"{(info - measured.peak) / measured.peak:+9.1%}" if info else f"{'':9s}"
            print(
                f"{name:20s} {mode:10s} {predicted.peak / MiB:10.1f} {measured.peak / MiB:10.1f} {error:+8.2%} "
                f"{info_text} {info_error} {seconds:7.2f}",
                flush=True,
            )
    print()
    print(f"worst inference error {worst['inference']:.2%} (target 5%): {'PASS' if worst['inference'] <= 0.05 else 'FAIL'}")
    print(f"worst training error  {worst['train']:.2%} (target 10%): {'PASS' if worst['train'] <= 0.10 else 'FAIL'}")
    peak, rss, seconds = rss_of_huge_step()
    print(
        f"ResNet-50, batch 256, 1024², train + Adam: peak {peak / 2**30:,.1f} GiB modelled in {seconds:.1f} s with "
        f"{rss / MiB:,.0f} MiB RSS (target < 2048 MiB): {'PASS' if rss < 2 * 2**30 else 'FAIL'}"
    )
    print("torchinfo's figure is one number for inference and training alike (its 'Estimated Total Size').")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
