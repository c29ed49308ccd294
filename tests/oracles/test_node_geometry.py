"""Hugging Face models held to FakeTensorMode node by node: every node's output geometry (shape, strides,
offset, dtype) and aten calls with the closed-form rules, the meta run and the memo as with every node
faked. The models are the ones where a rule's strides once parted from FakeTensorMode's (CLIP's class
token expanded over new size-1 dims, CvT's batch norm on a channels-last projection, views inside
einsums) and ones that take the meta run (MobileViTV2, Swin, Funnel's einsum attention)."""

from __future__ import annotations

import warnings

import pytest
import torch

from costmodel.inputs import TensorSpec
from tests.trace.node_records import assert_rules_record_what_fake_records

#: config → input: an image size, or a token sequence length
MODELS = {
    "CLIPVisionConfig": 224,
    "CvtConfig": 224,
    "MobileViTV2Config": 256,
    "SwinConfig": 224,
    "FunnelConfig": "tokens",
}


@pytest.mark.parametrize("config_name", sorted(MODELS))
def test_hugging_face_nodes_record_what_fake_tensors_record(config_name: str) -> None:
    transformers = pytest.importorskip("transformers")
    config = getattr(transformers, config_name)()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls = transformers.AutoModel._model_mapping[type(config)]
        model = (cls[0] if isinstance(cls, tuple) else cls)(config).eval()  # several classes for one config: the first
    size = MODELS[config_name]
    inputs = {"input_ids": TensorSpec((1, 64), torch.int64)} if size == "tokens" else (1, 3, size, size)
    assert_rules_record_what_fake_records(model, inputs)
