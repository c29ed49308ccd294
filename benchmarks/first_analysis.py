"""The first analysis of a model in a fresh process (the CLI's case) against its peers, measured in that
process: a broad corpus of definitions written elsewhere (Hugging Face vision, text and audio models from
configs, no weights), the own models, and blocks as plain torch code writes them (``plain_models``).

Run with a model key, it measures that one model and prints one JSON line: our first analysis (memo
empty, nothing warmed up: exactly what ``costmodel report`` pays), our second analysis, fvcore, the other
peers (torch.utils.flop_counter on a real forward, thop, torchinfo, ptflops for images), one real forward
pass, and the walk and row count. Each peer runs after one warm-up; the figures are medians of
``--repeats``. ``analysis_speed.py`` runs every key in its own process and prints the table with its
PASS/FAIL lines; run alone without a key, this does the same.

    python benchmarks/first_analysis.py [KEY] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: key → (config class, its options, input kind): small depths only where the default config is a
#: multi-billion-parameter model a real forward could not run here
HF_CORPUS: dict[str, tuple[str, dict[str, Any], str]] = {
    "hf:ResNet": ("ResNetConfig", {}, "image"),
    "hf:ConvNext": ("ConvNextConfig", {}, "image"),
    "hf:ConvNextV2": ("ConvNextV2Config", {}, "image"),
    "hf:RegNet": ("RegNetConfig", {}, "image"),
    "hf:MobileNetV1": ("MobileNetV1Config", {}, "image"),
    "hf:MobileNetV2": ("MobileNetV2Config", {}, "image"),
    "hf:MobileViT": ("MobileViTConfig", {}, "image"),
    "hf:MobileViTV2": ("MobileViTV2Config", {}, "image"),
    "hf:EfficientNet": ("EfficientNetConfig", {}, "image"),
    "hf:ViT": ("ViTConfig", {}, "image"),
    "hf:DeiT": ("DeiTConfig", {}, "image"),
    "hf:BEiT": ("BeitConfig", {}, "image"),
    "hf:Dinov2": ("Dinov2Config", {}, "image"),
    "hf:Swin": ("SwinConfig", {}, "image"),
    "hf:PVT": ("PvtConfig", {}, "image"),
    "hf:Segformer": ("SegformerConfig", {}, "image"),
    "hf:LeViT": ("LevitConfig", {}, "image"),
    "hf:PoolFormer": ("PoolFormerConfig", {}, "image"),
    "hf:CvT": ("CvtConfig", {}, "image"),
    "hf:BiT": ("BitConfig", {}, "image"),
    "hf:BERT": ("BertConfig", {}, "tokens"),
    "hf:RoBERTa": ("RobertaConfig", {}, "tokens"),
    "hf:DistilBERT": ("DistilBertConfig", {}, "tokens"),
    "hf:ALBERT": ("AlbertConfig", {}, "tokens"),
    "hf:ELECTRA": ("ElectraConfig", {}, "tokens"),
    "hf:GPT-2": ("GPT2Config", {"use_cache": False}, "tokens"),
    "hf:OPT": ("OPTConfig", {"use_cache": False}, "tokens"),
    "hf:GPT-Neo": (
        "GPTNeoConfig",
        {"use_cache": False, "num_layers": 4, "attention_types": [[["global", "local"], 2]]},
        "tokens",
    ),
    "hf:Llama(4 layers)": (
        "LlamaConfig",
        {"use_cache": False, "num_hidden_layers": 4, "hidden_size": 1024, "intermediate_size": 2816, "num_attention_heads": 16},
        "tokens",
    ),
    "hf:Mistral(4 layers)": (
        "MistralConfig",
        {"use_cache": False, "num_hidden_layers": 4, "hidden_size": 1024, "intermediate_size": 3584, "num_attention_heads": 16},
        "tokens",
    ),
    "hf:Wav2Vec2": ("Wav2Vec2Config", {"layerdrop": 0.0}, "audio"),
    "hf:HuBERT": ("HubertConfig", {"layerdrop": 0.0}, "audio"),
    # more definitions written elsewhere, default configs where a forward runs here in seconds
    "hf:DeBERTa-v2": ("DebertaV2Config", {}, "tokens"),
    "hf:XLM-RoBERTa": ("XLMRobertaConfig", {}, "tokens"),
    "hf:ConvBERT": ("ConvBertConfig", {}, "tokens"),
    "hf:MPNet": ("MPNetConfig", {}, "tokens"),
    "hf:MobileBERT": ("MobileBertConfig", {}, "tokens"),
    "hf:SqueezeBERT": ("SqueezeBertConfig", {}, "tokens"),
    "hf:XLNet": ("XLNetConfig", {}, "tokens"),
    "hf:Bloom(4 layers)": ("BloomConfig", {"n_layer": 4, "use_cache": False}, "tokens"),
    "hf:Qwen2(4 layers)": (
        "Qwen2Config",
        {
            "use_cache": False,
            "num_hidden_layers": 4,
            "hidden_size": 1024,
            "intermediate_size": 2816,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
        },
        "tokens",
    ),
    "hf:Phi(4 layers)": ("PhiConfig", {"use_cache": False, "num_hidden_layers": 4}, "tokens"),
    "hf:Falcon(4 layers)": ("FalconConfig", {"use_cache": False, "num_hidden_layers": 4}, "tokens"),
    "hf:WavLM": ("WavLMConfig", {"layerdrop": 0.0}, "audio"),
    "hf:Data2VecAudio": ("Data2VecAudioConfig", {"layerdrop": 0.0}, "audio"),
    "hf:SEW": ("SEWConfig", {"layerdrop": 0.0}, "audio"),
    "hf:CLIP-vision": ("CLIPVisionConfig", {}, "image"),
    "hf:SigLIP-vision": ("SiglipVisionConfig", {}, "image"),
    "hf:DPT": ("DPTConfig", {}, "image"),
    "hf:GLPN": ("GLPNConfig", {}, "image"),
    "hf:FocalNet": ("FocalNetConfig", {}, "image"),
    "hf:Swinv2": ("Swinv2Config", {}, "image"),
    "hf:Hiera": ("HieraConfig", {}, "image"),
    "hf:Data2VecVision": ("Data2VecVisionConfig", {}, "image"),
    # constructs met later: a returned key/value cache (Bart's default use_cache), einsum-heavy attention
    # (Funnel), FFTs (FNet), a branch on an internally built mask (Longformer: .item(), the aten walk on real
    # tensors), padding computed from stride buffers (Encodec), hasattr(weight, "SCB") (RWKV)
    "hf:Bart": ("BartConfig", {}, "tokens"),
    "hf:Funnel": ("FunnelConfig", {}, "tokens"),
    "hf:FNet": ("FNetConfig", {}, "tokens"),
    "hf:Longformer": ("LongformerConfig", {}, "tokens"),
    "hf:Encodec": ("EncodecConfig", {}, "codec"),
    "hf:WavTokenizer": ("WavTokenizerConfig", {}, "codec"),
    # data-dependent shapes: top-k expert routing, a length read by .item() (from the token ids)
    "hf:Qwen2Moe(2 layers)": ("Qwen2MoeConfig", {"use_cache": False, "num_hidden_layers": 2}, "tokens"),
    "hf:XLM": ("XLMConfig", {}, "tokens"),
    # experts run by torch's grouped matrix product (whose fake kernel demands bf16), grouped-query attention
    "hf:Qwen3Moe(2 layers)": (
        "Qwen3MoeConfig",
        {
            "num_hidden_layers": 2,
            "hidden_size": 1024,
            "moe_intermediate_size": 512,
            "num_experts": 32,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
        },
        "tokens",
    ),
    "hf:OLMoE(2 layers)": ("OlmoeConfig", {"num_hidden_layers": 2, "hidden_size": 1024, "num_experts": 32}, "tokens"),
    # a recurrence (RG-LRU) and a cache built with dtype=int; SEW-D's buckets from torch.tensor(n).type_as
    "hf:RecurrentGemma(3 layers)": ("RecurrentGemmaConfig", {"num_hidden_layers": 3}, "tokens"),
    "hf:SEW-D": ("SEWDConfig", {"layerdrop": 0.0}, "audio"),
    # a selective scan looped per token (the reference path), its cache marked static for torch.compile
    "hf:Mamba(4 layers)": ("MambaConfig", {"num_hidden_layers": 4}, "tokens"),
    "hf:RWKV(4 layers)": (
        "RwkvConfig",
        {"num_hidden_layers": 4, "hidden_size": 768, "attention_hidden_size": 768, "intermediate_size": 3072},
        "tokens",
    ),
}

#: blocks as plain torch code writes them (``plain_models``): constructs without a shape rule of their own
PLAIN_CORPUS = (
    "plain:einsum_vit",
    "plain:unet_decoder",
    "plain:unfold_patches",
    "plain:topk_router",
    "plain:gru_encoder",
    "plain:cbam_fpn",
    "plain:style_generator",
)
OWN_CORPUS = ("own:vit", "own:swin_window", "own:efficientnet_se_droppath", "own:convnext_block", "own:stateful")
ZOO_CORPUS = ("zoo:shufflenet_v2_x1_0", "zoo:mobilenet_v2", "zoo:resnet50")
KEYS = (*ZOO_CORPUS, *OWN_CORPUS, *PLAIN_CORPUS, *HF_CORPUS)


def build(key: str) -> tuple[Any, Any, tuple[Any, ...]]:
    """(model in eval mode, our input spec, the real inputs the peers take as positional arguments)."""
    import torch

    torch.manual_seed(0)
    if key.startswith("zoo:"):
        from costmodel.zoo import ZOO

        return ZOO[key[4:]]().eval(), (1, 3, 224, 224), (torch.randn(1, 3, 224, 224),)
    if key.startswith("own:"):
        sys.path.insert(0, str(ROOT))
        from tests.oracles.test_corpus import OWN

        make, shape = OWN[key[4:]]
        return make().eval(), shape, (torch.randn(shape),)
    if key.startswith("plain:"):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from plain_models import PLAIN

        make, spec, real = PLAIN[key]
        return make().eval(), spec, real()
    import transformers

    config_name, options, kind = HF_CORPUS[key]
    config = getattr(transformers, config_name)(**options)
    mapping = transformers.AutoModelForImageClassification._model_mapping
    table = mapping if kind == "image" and type(config) in mapping else transformers.AutoModel._model_mapping
    cls = table[type(config)]
    cls = cls[0] if isinstance(cls, tuple) else cls  # several heads for one config: the first
    model = cls(config).eval()
    if kind == "image":
        size = getattr(config, "image_size", 224)
        size = size[0] if isinstance(size, (list, tuple)) else size
        shape = (1, getattr(config, "num_channels", 3), size, size)
        return model, shape, (torch.randn(shape),)
    if kind == "codec":  # one second of 24 kHz mono audio
        return model, (1, 1, 24000), (torch.randn(1, 1, 24000),)
    if kind == "audio":
        return model, (1, 16000), (torch.randn(1, 16000),)
    ids = torch.randint(0, 100, (1, 128))
    return model, {"input_ids": ((1, 128), torch.int64)}, (ids,)


def median_s(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _quiet(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return fn()

    return run


def peers(model: Any, real: tuple[Any, ...], image: bool) -> dict[str, Callable[[], object]]:
    """Each peer's whole analysis of ``model`` on ``real`` as one call."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def fvcore() -> object:
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, real)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return analysis.total()

    def flop_counter() -> object:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(*real)
        return counter.get_total_flops()

    def torchinfo() -> object:
        import torchinfo as lib

        return lib.summary(model, input_data=list(real), verbose=0)

    own = copy.deepcopy(model)  # thop leaves buffers in the model it profiles

    def thop() -> object:
        import thop as lib

        return lib.profile(own, inputs=real, verbose=False)

    found: dict[str, Callable[[], object]] = {
        "fvcore": fvcore,
        "flop_counter": flop_counter,
        "torchinfo": torchinfo,
        "thop": thop,
    }
    if image:

        def ptflops() -> object:
            from ptflops import get_model_complexity_info

            shape = tuple(real[0].shape[1:])
            return get_model_complexity_info(model, shape, as_strings=False, print_per_layer_stat=False, verbose=False)

        found["ptflops"] = ptflops
    return {name: _quiet(fn) for name, fn in found.items()}


def measure(key: str, repeats: int) -> dict[str, Any]:
    """One model's figures, measured in this (fresh) process: our first analysis comes first of all."""
    import torch

    from costmodel import analyze

    model, spec, real = build(key)
    start = time.perf_counter()
    report = analyze(model, spec)  # the first analysis: nothing imported lazily yet, memo empty
    first = time.perf_counter() - start
    second = median_s(lambda: analyze(model, spec), repeats)
    out: dict[str, Any] = {"key": key, "first_s": first, "second_s": second, "walk": report.walk, "rows": len(report.layers)}
    with torch.no_grad():
        out["forward_s"] = median_s(lambda: model(*real), repeats)
    out["peers"] = {}
    for name, fn in peers(model, real, len(real[0].shape) == 4).items():
        try:
            out["peers"][name] = median_s(fn, repeats if name == "fvcore" else max(1, repeats // 2))
        except Exception as exc:  # noqa: BLE001  # a peer that cannot take the model has no figure
            out["peers"][name] = None
            out.setdefault("peer_errors", {})[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
    return out


def run_all(keys: tuple[str, ...], repeats: int, threads: int, source: str | None = None) -> list[dict[str, Any]]:
    """Every key measured in a fresh process of its own; a process that fails gives an ``error`` row.
    ``source``: a checkout whose ``costmodel`` the processes import instead (an earlier commit: before/after)."""
    env = dict(os.environ, PYTHONPATH=source) if source else None
    rows = []
    for key in keys:
        done = subprocess.run(
            [sys.executable, __file__, key, "--repeats", str(repeats), "--threads", str(threads)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=900,
            env=env,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            rows.append({"key": key, "error": tail[:120]})
        else:
            rows.append(json.loads(lines[-1]))
    return rows


def table(rows: list[dict[str, Any]]) -> tuple[list[str], list[float], dict[str, int]]:
    """The printed table, the first-analysis/fvcore ratios, and how many models took each walk."""
    lines = [
        f"{'model':24} {'walk':>5} {'rows':>5} {'first ms':>9} {'second ms':>10} {'fvcore ms':>10} {'first/fv':>9} "
        f"{'fastest peer':>20} {'forward ms':>11} {'first/fwd':>10}"
    ]
    ratios: list[float] = []
    walks: dict[str, int] = {}
    for row in rows:
        if "error" in row:
            lines.append(f"{row['key']:24} failed: {row['error']}")
            continue
        walks[row["walk"]] = walks.get(row["walk"], 0) + 1
        first, fv = row["first_s"] * 1e3, row["peers"].get("fvcore")
        measured = {k: v for k, v in row["peers"].items() if v is not None}
        fastest = min(measured, key=measured.__getitem__) if measured else None
        fastest_text = f"{fastest} {measured[fastest] * 1e3:.0f}" if fastest else "-"
        fv_text, ratio_text = ("failed", "-") if fv is None else (f"{fv * 1e3:.0f}", f"{first / (fv * 1e3):.2f}")
        if fv is not None:
            ratios.append(first / (fv * 1e3))
        forward = row["forward_s"] * 1e3
        lines.append(
            f"{row['key']:24} {row['walk']:>5} {row['rows']:5d} {first:9.0f} {row['second_s'] * 1e3:10.0f} {fv_text:>10} "
            f"{ratio_text:>9} {fastest_text:>20} {forward:11.0f} {first / forward:10.2f}"
        )
    return lines, ratios, walks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("key", nargs="?", choices=KEYS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--source", help="import costmodel from this checkout (an earlier commit, for before/after)")
    parser.add_argument("--json", help="also write every row to this JSON file")
    parser.add_argument("--only", help="measure only the keys starting with this prefix (zoo:, own:, plain:, hf:)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    if args.key and not args.source:  # measured here; with --source, in a process importing that checkout
        print(json.dumps(measure(args.key, args.repeats)))
        return
    keys = (args.key,) if args.key else tuple(k for k in KEYS if k.startswith(args.only)) if args.only else KEYS
    rows = run_all(keys, args.repeats, args.threads, args.source)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    lines, ratios, walks = table(rows)
    print("\n".join(lines))
    if ratios:
        print(f"walks: {walks}; first/fvcore median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}")
    else:  # fvcore failed on every model run
        print(f"walks: {walks}; no first/fvcore ratio")


if __name__ == "__main__":
    main()
