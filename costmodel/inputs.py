"""What a model is analysed on: one shape, several, tensors (real or fake), or an (args, kwargs) pair.

Every tensor leaf becomes a ``TensorSpec`` (shape + dtype); other Python values pass through. A
spec's dtype None means the analysis dtype (float32 unless asked otherwise).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch import nn

from costmodel.errors import ShapeMismatch

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int64": torch.int64,
    "long": torch.int64,
    "int32": torch.int32,
    "int": torch.int32,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor input by shape and dtype (None: the analysis dtype)."""

    shape: tuple[int, ...]
    dtype: torch.dtype | None = None

    def describe(self, default: torch.dtype) -> str:
        """'1x3x224x224' or '1x77:int64' when the dtype differs from ``default``."""
        text = "x".join(map(str, self.shape)) or "scalar"
        dtype = self.dtype or default
        return text if dtype == default else f"{text}:{str(dtype).removeprefix('torch.')}"


@dataclass(frozen=True)
class ModelInputs:
    """Positional and keyword inputs of one forward call; tensor leaves are TensorSpecs."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def specs(self) -> list[tuple[str, TensorSpec]]:
        """Every tensor spec with a label: its position ('0') or keyword name."""
        out = [(str(i), a) for i, a in enumerate(self.args) if isinstance(a, TensorSpec)]
        return out + [(k, v) for k, v in self.kwargs.items() if isinstance(v, TensorSpec)]

    def describe(self, default: torch.dtype) -> str:
        """'1x3x224x224' for one positional tensor, else 'x=1x3x224x224, mask=1x77:bool'."""
        specs = self.specs()
        if len(specs) == 1 and not self.kwargs:
            return specs[0][1].describe(default)
        return ", ".join(f"{k}={s.describe(default)}" for k, s in specs)

    @property
    def first_shape(self) -> list[int]:
        """Shape of the first tensor input ([] without any)."""
        specs = self.specs()
        return list(specs[0][1].shape) if specs else []


def _is_shape(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list, torch.Size))
        and len(value) > 0
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def shape_spec(shape: Sequence[Any], dtype: torch.dtype | None = None) -> TensorSpec:
    """A TensorSpec from a shape, checked: every size a positive integer (1.5 or '3' is an error)."""
    sizes = list(shape)
    if not sizes or any(not isinstance(s, int) or isinstance(s, bool) or s <= 0 for s in sizes):
        raise ShapeMismatch(f"input shape {sizes} must be a non-empty list of positive integers")
    if prod(sizes) > MAX_ELEMENTS:
        raise ShapeMismatch(f"input shape {sizes} has {prod(sizes):.3g} elements, more than any device holds (2**48)")
    return TensorSpec(tuple(int(s) for s in sizes), dtype)


#: The most elements one input may have: beyond it sizes overflow int64 in the ops' own arithmetic.
MAX_ELEMENTS = 2**48


def _leaf(value: Any) -> Any:
    if isinstance(value, TensorSpec):
        return shape_spec(value.shape, value.dtype)
    if isinstance(value, torch.Tensor):
        return TensorSpec(tuple(int(s) for s in value.shape), value.dtype)
    if isinstance(value, torch.Size) or _is_shape(value):
        return shape_spec(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and _is_shape(value[0]) and isinstance(value[1], torch.dtype):
        return shape_spec(value[0], value[1])
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, (tuple, list, torch.Tensor, TensorSpec)) for v in value):
        return type(value)(_leaf(v) for v in value)
    if (
        isinstance(value, (tuple, list))
        and any(isinstance(v, float) for v in value)
        and all(isinstance(v, (int, float)) for v in value)
    ):
        return shape_spec(value)  # raises: a shape of 1.5 is not truncated
    return value


def _is_named_shape(value: Any) -> bool:
    """A non-empty list of sizes, each a positive-or-not int or a name (a string)."""
    return (
        isinstance(value, (tuple, list))
        and len(value) > 0
        and all((isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, str) for v in value)
    )


def _named_leaf(inputs: Any) -> Any:
    """The user's inputs with every shape (numbers and names), alone or paired with a dtype, as a TensorSpec."""
    if isinstance(inputs, TensorSpec):
        return inputs
    if _is_named_shape(inputs):
        return TensorSpec(tuple(inputs))
    typed = isinstance(inputs, (tuple, list)) and len(inputs) == 2 and isinstance(inputs[1], torch.dtype)
    if typed and _is_named_shape(inputs[0]):
        return TensorSpec(tuple(inputs[0]), inputs[1])
    if isinstance(inputs, dict):
        return {str(k): _named_leaf(v) for k, v in inputs.items()}
    if isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], (tuple, list)) and isinstance(inputs[1], dict):
        return (tuple(_named_leaf(a) for a in inputs[0]), _named_leaf(inputs[1]))
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(_named_leaf(v) for v in inputs)
    return inputs


def named_model_inputs(inputs: Any) -> ModelInputs:
    """Inputs whose sizes may be names (``(1, 3, "H", "W")``, ``{"ids": ((1, "L"), torch.int64)}``, a list
    of shapes, ``(args, kwargs)``) as ModelInputs whose TensorSpecs keep the names as strings. Sizes are
    not checked here: the caller gives the names values (a formula's symbols, a sweep's sizes)."""
    if isinstance(inputs, ModelInputs):
        return inputs
    walked = _named_leaf(inputs)
    if isinstance(walked, tuple) and len(walked) == 2 and isinstance(walked[0], tuple) and isinstance(walked[1], dict):
        return ModelInputs(walked[0], walked[1])
    if isinstance(walked, dict):
        return ModelInputs((), walked)
    if isinstance(walked, (tuple, list)):
        return ModelInputs(tuple(walked), {})
    return ModelInputs((walked,), {})


def tensor_specs(value: Any) -> list[TensorSpec]:
    """Every TensorSpec in ``value`` (ModelInputs, containers walked), in order."""
    if isinstance(value, ModelInputs):
        return tensor_specs((value.args, value.kwargs))
    if isinstance(value, TensorSpec):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in tensor_specs(v)]
    if isinstance(value, (tuple, list)):
        return [s for v in value for s in tensor_specs(v)]
    return []


def normalise_inputs(inputs: Any) -> ModelInputs:
    """Turn what the user gave into ModelInputs.

    Accepted: a shape ``(1, 3, 224, 224)``; a tensor; a ``TensorSpec``; a ``(shape, dtype)`` pair; a
    dict (keyword inputs); a list/tuple of any of these (positional inputs); or ``(args, kwargs)``,
    a tuple of a tuple/list and a dict.
    """
    if isinstance(inputs, ModelInputs):
        return inputs
    if isinstance(inputs, dict):
        return ModelInputs((), {str(k): _leaf(v) for k, v in inputs.items()})
    if isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], (tuple, list)) and isinstance(inputs[1], dict):
        args = tuple(_leaf(a) for a in inputs[0])
        return ModelInputs(args, {str(k): _leaf(v) for k, v in inputs[1].items()})
    if isinstance(inputs, (tuple, list)) and not inputs:
        raise ShapeMismatch("no inputs given (an empty list): give the forward's inputs, e.g. (1, 3, 224, 224)")
    leaf = _leaf(inputs)
    if isinstance(leaf, TensorSpec):
        return ModelInputs((leaf,), {})
    if isinstance(leaf, (tuple, list)):
        return ModelInputs(tuple(_leaf(v) for v in leaf), {})
    raise ShapeMismatch(f"cannot read the inputs {inputs!r}: give a shape, a tensor, a list of them, or (args, kwargs)")


def split_input_option(text: str) -> tuple[str | None, list[str], torch.dtype | None]:
    """One CLI ``--input`` taken apart: 'name=1,77:int64' → ('name', ['1', '77'], torch.int64); numbers may
    be joined by 'x' ('1x3x224x224'). Raises ValueError naming a bad keyword or dtype."""
    name = None
    body = text.strip()
    if "=" in body:
        name, _, body = body.partition("=")
        name = name.strip()
        if not name.isidentifier():
            raise ValueError(f"'{text}': '{name}' is not a valid keyword name")
    shape_text, _, dtype_text = body.partition(":")
    dtype = None
    if dtype_text:
        dtype = DTYPES.get(dtype_text.strip().lower().removeprefix("torch."))
        if dtype is None:
            raise ValueError(f"'{text}': unknown dtype '{dtype_text}' (one of {', '.join(sorted(DTYPES))})")
    parts: list[str] = []
    for part in (p.strip() for p in shape_text.split(",")):
        # '1x3x224' is three sizes; a name that contains an x ('x', 'max_len') is one
        parts += part.split("x") if re.fullmatch(r"\d+(x\d+)+", part) else [part] if part else []
    return name, parts, dtype


def parse_input_option(text: str) -> tuple[str | None, TensorSpec]:
    """One CLI ``--input``: '1,3,224,224', '1x77:int64' or 'name=1,77:int64' → (name or None, spec)."""
    name, parts, dtype = split_input_option(text)
    try:
        shape = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"'{text}' is not a comma-separated list of integers, e.g. 1,3,224,224") from None
    if not shape or any(s <= 0 for s in shape) or any(s > 2**40 for s in shape):
        raise ValueError(f"'{text}' must list positive sizes below 2**40, e.g. 1,3,224,224")
    if prod(shape) > MAX_ELEMENTS:
        raise ValueError(f"'{text}' has {prod(shape):.3g} elements, more than any device holds (2**48)")
    return name, TensorSpec(tuple(shape), dtype)


def materialise(value: Any, make: Any) -> Any:
    """Replace every TensorSpec inside ``value`` by ``make(spec)``."""
    if isinstance(value, TensorSpec):
        return make(value)
    if isinstance(value, (tuple, list)):
        return type(value)(materialise(v, make) for v in value)
    if isinstance(value, dict):
        return {k: materialise(v, make) for k, v in value.items()}
    return value


def empty_tensor(spec: TensorSpec, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """A tensor of the spec's shape: random normal for floating dtypes, zeros otherwise (token ids,
    masks); under a fake mode this allocates nothing."""
    dt = spec.dtype or dtype
    if dt.is_floating_point or dt.is_complex:
        return torch.randn(spec.shape, dtype=dt, device=device)
    return torch.zeros(spec.shape, dtype=dt, device=device)


def bind_forward(model: nn.Module, inputs: ModelInputs, partial: bool = True) -> inspect.BoundArguments:
    """``inputs`` bound to ``model.forward``'s signature (``partial``: parameters may be left out, as
    placeholders with defaults allow); ShapeMismatch, one line, when they do not fit it."""
    signature = inspect.signature(model.forward)
    try:
        bind = signature.bind_partial if partial else signature.bind
        return bind(*inputs.args, **inputs.kwargs)
    except TypeError as exc:
        raise ShapeMismatch(f"the inputs do not match {type(model).__name__}.forward's signature: {exc}") from None


def item_name(parameter: str, index: int) -> str:
    """The placeholder name of item ``index`` of a forward's ``*parameter``."""
    return f"{parameter}_{index}"


def bind_placeholders(model: nn.Module, names: list[str], inputs: ModelInputs, defaults: list[Any]) -> list[Any]:
    """Values for a traced graph's placeholders, in order, from positional and keyword inputs:
    bound to ``model.forward``'s signature (a placeholder may also name an item of ``*args``, as
    ``item_name`` spells it, or an entry of ``**kwargs`` by its key); an input not given takes the
    placeholder's default."""
    binding = bind_forward(model, inputs)
    bound = dict(binding.arguments)
    for name, parameter in binding.signature.parameters.items():  # a graph may name each *args item and **kwargs entry
        if parameter.kind is parameter.VAR_POSITIONAL:
            bound.update({item_name(name, i): v for i, v in enumerate(bound.get(name, ()))})
        elif parameter.kind is parameter.VAR_KEYWORD:
            bound.update({k: v for k, v in bound.get(name, {}).items() if k not in bound})
    values = []
    for name, default in zip(names, defaults):
        key = name.lstrip("*")
        values.append(bound[key] if key in bound else default)
    return values


#: The image batch assumed when no inputs are given and the model's first layer is a 2-D convolution.
IMAGE_SIZE = 224


def _first_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The first module (in registration order) that holds parameters of its own: the layer the input meets."""
    for path, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            return path or type(model).__name__, module
    return type(model).__name__, model


def _hint(module: nn.Module) -> str:
    """The input a layer takes, as ``--input`` spells it."""
    if isinstance(module, nn.Linear):
        return f"1,{module.in_features}"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "1,128:int64 (token ids)"
    if isinstance(module, nn.RNNBase):
        return f"1,128,{module.input_size}" if module.batch_first else f"128,1,{module.input_size}"
    if isinstance(module, nn.Conv1d):
        return f"1,{module.in_channels},1024"
    if isinstance(module, nn.Conv3d):
        return f"1,{module.in_channels},16,112,112"
    return "its shape, e.g. 1,3,224,224"


def default_inputs(model: nn.Module) -> tuple[int, ...]:
    """Inputs for a model analysed without any: an image batch ``1 × c × 224 × 224`` when its first layer
    is a 2-D convolution on c channels (every header prints the input used); otherwise ShapeMismatch
    naming the first layer and the input it takes (never a guess that then fails inside the model)."""
    path, layer = _first_layer(model)
    if isinstance(layer, nn.Conv2d):
        return (1, layer.in_channels, IMAGE_SIZE, IMAGE_SIZE)
    raise ShapeMismatch(
        f"no inputs given, and the first layer '{path}' ({type(layer).__name__}) does not take an image: "
        f"give them, e.g. --input {_hint(layer)} (analyze(model, inputs) from Python)"
    )
