#!/usr/bin/python3
"""Builds a full-size ViT-B/32 CLIP with random weights and exports both towers to ONNX in Immich's layout.

For throughput benchmarks: the graphs have ViT-B/32's shapes, op mix and parameter count (open_clip's
ViT-B-32 config, QuickGELU as in OpenAI's weights), but the weights are seeded noise, so the embeddings
mean nothing. The folder is what immich-app/ViT-B-32__openai holds, written the way Immich's exporter
writes it (machine-learning/export/immich_model_exporter/exporters/onnx/models/openclip.py):

    <out>/config.json                  open_clip model config (embed_dim, vision_cfg, text_cfg)
    <out>/visual/model.onnx            image float32 [N, 3, 224, 224] -> embedding float32 [N, 512]
    <out>/visual/preprocess_cfg.json   open_clip PreprocessCfg (size, mode, mean, std, interpolation, ...)
    <out>/textual/model.onnx           text int32 [N, 77] -> embedding float32 [N, 512]
    <out>/textual/tokenizer.json, tokenizer_config.json, special_tokens_map.json

Both towers L2-normalise their output, as Immich's exports do (encode_*(normalize=True)). The batch axis
is dynamic ("batch_size") unless --static-batch pins it to 1, as Immich's current exporter does.

Needs only PyTorch (Debian's python3-torch 1.13 works; no onnx package). Run it with the system Python:
    /usr/bin/python3 scripts/models/export-vit-b32.py [--out .data/models/vit-b32-random] [--seed 0]
"""

import argparse
import json
import shutil
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# open_clip src/open_clip/model_configs/ViT-B-32.json
MODEL_CONFIG = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
}
VISION_HEADS = 12  # open_clip: width // head_width, head_width 64
# open_clip PreprocessCfg for OpenAI weights, as get_model_preprocess_cfg returns it
PREPROCESS_CONFIG = {
    "size": [224, 224],
    "mode": "RGB",
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
    "fill_color": 0,
}
# What CLIPTokenizer.save_pretrained writes for openai/clip-vit-base-patch32; Immich reads pad_token.
TOKENIZER_CONFIG = {
    "add_prefix_space": False,
    "bos_token": "<|startoftext|>",
    "clean_up_tokenization_spaces": True,
    "do_lower_case": True,
    "eos_token": "<|endoftext|>",
    "errors": "replace",
    "model_max_length": 77,
    "pad_token": "<|endoftext|>",
    "tokenizer_class": "CLIPTokenizer",
    "unk_token": "<|endoftext|>",
}
SPECIAL_TOKENS_MAP = {
    "bos_token": "<|startoftext|>",
    "eos_token": "<|endoftext|>",
    "pad_token": "<|endoftext|>",
    "unk_token": "<|endoftext|>",
}
TOKENIZER_JSON = Path(__file__).resolve().parents[2] / "models" / "clip-tokenizer" / "tokenizer.json"
OPSET = 17


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """open_clip's pre-norm transformer block, sequence-first (L, N, D) like OpenAI's CLIP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))]
            )
        )

    def forward(self, x: torch.Tensor, attn_mask: "torch.Tensor | None" = None) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor, attn_mask: "torch.Tensor | None" = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, image_size: int, patch_size: int, width: int, layers: int, heads: int, output_dim: int) -> None:
        super().__init__()
        scale = width**-0.5
        grid = image_size // patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.conv1(image).flatten(2).permute(0, 2, 1)  # N, grid², width
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)  # sequence first
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0]) @ self.proj


class TextTransformer(nn.Module):
    def __init__(self, context_length: int, vocab_size: int, width: int, heads: int, layers: int, output_dim: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(context_length, width))
        self.transformer = Transformer(width, layers, heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(width**-0.5 * torch.randn(width, output_dim))
        mask = torch.full((context_length, context_length), float("-inf")).triu(1)  # causal
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.attn_mask).permute(1, 0, 2)
        x = self.ln_final(x)
        # The features at the end token, which has the highest id in the CLIP vocabulary.
        end = text.argmax(dim=-1)
        return x[torch.arange(x.shape[0]), end] @ self.text_projection


class Normalized(nn.Module):
    """encode_image / encode_text with normalize=True, as Immich exports them."""

    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.tower(x), dim=-1)


def export(model: nn.Module, example: torch.Tensor, path: Path, input_name: str, dynamic_batch: bool) -> float:
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    torch.onnx.export(
        model,
        (example,),
        path.as_posix(),
        input_names=[input_name],
        output_names=["embedding"],
        opset_version=OPSET,
        dynamic_axes={input_name: {0: "batch_size"}, "embedding": {0: "batch_size"}} if dynamic_batch else None,
    )
    return time.perf_counter() - started


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(".data/models/vit-b32-random"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--static-batch", action="store_true", help="pin the batch axis to 1, as Immich's exporter does")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    vision_cfg, text_cfg = MODEL_CONFIG["vision_cfg"], MODEL_CONFIG["text_cfg"]
    embed_dim = MODEL_CONFIG["embed_dim"]
    visual = VisionTransformer(
        vision_cfg["image_size"], vision_cfg["patch_size"], vision_cfg["width"], vision_cfg["layers"], VISION_HEADS, embed_dim
    )
    textual = TextTransformer(
        text_cfg["context_length"], text_cfg["vocab_size"], text_cfg["width"], text_cfg["heads"], text_cfg["layers"], embed_dim
    )

    out: Path = args.out
    timings = {}
    with torch.no_grad():
        for name, tower, example, input_name in [
            ("visual", visual, torch.randn(1, 3, vision_cfg["image_size"], vision_cfg["image_size"]), "image"),
            # Immich's exporter traces with torch.ones(1, context_length, dtype=int32): int32 in the graph.
            ("textual", textual, torch.ones(1, text_cfg["context_length"], dtype=torch.int32), "text"),
        ]:
            model = Normalized(tower).eval()
            params = sum(p.numel() for p in model.parameters())
            seconds = export(model, example, out / name / "model.onnx", input_name, not args.static_batch)
            timings[name] = seconds
            size = (out / name / "model.onnx").stat().st_size
            print(f"{name}: {params / 1e6:.1f} M parameters, exported in {seconds:.1f} s, {size / 2**20:.1f} MiB")

    write_json(out / "config.json", MODEL_CONFIG)
    write_json(out / "visual" / "preprocess_cfg.json", PREPROCESS_CONFIG)
    shutil.copyfile(TOKENIZER_JSON, out / "textual" / "tokenizer.json")
    write_json(out / "textual" / "tokenizer_config.json", TOKENIZER_CONFIG)
    write_json(out / "textual" / "special_tokens_map.json", SPECIAL_TOKENS_MAP)
    print(f"wrote {out} (torch {torch.__version__}, opset {OPSET}, export {sum(timings.values()):.1f} s)")


if __name__ == "__main__":
    main()
