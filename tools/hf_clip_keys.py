#!/usr/bin/python3
"""Writes tests/data/hf_clip_vit_b32_keys.txt: the tensors of Hugging Face's
openai/clip-vit-base-patch32 `model.safetensors`, derived from the module tree
of transformers' CLIPModel (src/transformers/models/clip/modeling_clip.py) and
that checkpoint's config.json, independently of clipc's converter (which the
test keymap_hf_b32_key_set compares against this list).

Module tree (state-dict names are the attribute paths):
  CLIPModel
    text_model: CLIPTextTransformer
      embeddings: CLIPTextEmbeddings
        token_embedding: nn.Embedding(vocab_size, hidden_size)
        position_embedding: nn.Embedding(max_position_embeddings, hidden_size)
        position_ids: buffer, persistent=False (not in files saved by current
                      transformers; older pytorch_model.bin files hold it)
      encoder: CLIPEncoder
        layers: ModuleList of CLIPEncoderLayer
          self_attn: CLIPAttention {k_proj, v_proj, q_proj, out_proj}: nn.Linear(h, h)
          layer_norm1: nn.LayerNorm(h)
          mlp: CLIPMLP {fc1: nn.Linear(h, intermediate), fc2: nn.Linear(intermediate, h)}
          layer_norm2: nn.LayerNorm(h)
      final_layer_norm: nn.LayerNorm(h)
    vision_model: CLIPVisionTransformer
      embeddings: CLIPVisionEmbeddings
        class_embedding: nn.Parameter(hidden_size)
        patch_embedding: nn.Conv2d(3, hidden_size, patch, stride=patch, bias=False)
        position_embedding: nn.Embedding((image_size // patch) ** 2 + 1, hidden_size)
      pre_layrnorm: nn.LayerNorm(h)          (sic)
      encoder: as above
      post_layernorm: nn.LayerNorm(h)
    visual_projection: nn.Linear(vision hidden, projection_dim, bias=False)  weight [out, in]
    text_projection: nn.Linear(text hidden, projection_dim, bias=False)      weight [out, in]
    logit_scale: nn.Parameter(tensor(2.6592))  0-dim
Run: /usr/bin/python3 tools/hf_clip_keys.py > tests/data/hf_clip_vit_b32_keys.txt
"""

# openai/clip-vit-base-patch32 config.json
TEXT = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, vocab_size=49408,
            max_position_embeddings=77)
VISION = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, patch_size=32, image_size=224)
PROJECTION_DIM = 512


def linear(prefix, n_in, n_out, bias=True):
    out = [(prefix + ".weight", [n_out, n_in])]
    if bias:
        out.append((prefix + ".bias", [n_out]))
    return out


def layer_norm(prefix, h):
    return [(prefix + ".weight", [h]), (prefix + ".bias", [h])]


def encoder(prefix, cfg):
    h, inter, out = cfg["hidden_size"], cfg["intermediate_size"], []
    for i in range(cfg["num_hidden_layers"]):
        p = f"{prefix}.encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            out += linear(f"{p}.self_attn.{proj}", h, h)
        out += layer_norm(f"{p}.layer_norm1", h)
        out += linear(f"{p}.mlp.fc1", h, inter) + linear(f"{p}.mlp.fc2", inter, h)
        out += layer_norm(f"{p}.layer_norm2", h)
    return out


def keys():
    t, v = TEXT, VISION
    out = [("text_model.embeddings.token_embedding.weight", [t["vocab_size"], t["hidden_size"]]),
           ("text_model.embeddings.position_embedding.weight", [t["max_position_embeddings"], t["hidden_size"]])]
    out += encoder("text_model", t) + layer_norm("text_model.final_layer_norm", t["hidden_size"])
    grid = v["image_size"] // v["patch_size"]
    out += [("vision_model.embeddings.class_embedding", [v["hidden_size"]]),
            ("vision_model.embeddings.patch_embedding.weight",
             [v["hidden_size"], 3, v["patch_size"], v["patch_size"]]),
            ("vision_model.embeddings.position_embedding.weight", [grid * grid + 1, v["hidden_size"]])]
    out += layer_norm("vision_model.pre_layrnorm", v["hidden_size"]) + encoder("vision_model", v)
    out += layer_norm("vision_model.post_layernorm", v["hidden_size"])
    out += linear("visual_projection", v["hidden_size"], PROJECTION_DIM, bias=False)
    out += linear("text_projection", t["hidden_size"], PROJECTION_DIM, bias=False)
    out += [("logit_scale", [])]
    return out


if __name__ == "__main__":
    print("# Hugging Face openai/clip-vit-base-patch32 model.safetensors: name<TAB>dtype<TAB>shape, sorted;")
    print("# written by tools/hf_clip_keys.py from transformers' CLIPModel module tree (see there).")
    print("# Files saved by older transformers also hold the buffers text_model.embeddings.position_ids")
    print("# (I64 [1, 77]) and vision_model.embeddings.position_ids (I64 [1, 50]); clipc ignores them.")
    for name, shape in sorted(keys()):
        print(f"{name}\tF32\t[{', '.join(map(str, shape))}]")
