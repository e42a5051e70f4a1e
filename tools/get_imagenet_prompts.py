#!/usr/bin/python3
"""Extracts OpenAI's 80 ImageNet prompt templates from notebooks/Prompt_Engineering_for_ImageNet.ipynb of a checkout of
github.com/openai/CLIP (MIT licence, Copyright (c) 2021 OpenAI), one per
line, for tests/data/prompts/ (the test compares them with the set built
into src/eval/templates.c):

  /usr/bin/python3 tools/get_imagenet_prompts.py CLIP/notebooks/Prompt_Engineering_for_ImageNet.ipynb \
      tests/data/prompts
"""
import ast
import json
import os
import sys


def list_literal(src, name):
    i = src.index(name + " = [")
    node = ast.parse(src[i:src.index("]", i) + 1]).body[0]
    return ast.literal_eval(node.value)


def main():
    nb = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    found = {}
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if "imagenet_templates = [" in src:
            found["imagenet_templates"] = list_literal(src, "imagenet_templates")
    assert len(found["imagenet_templates"]) == 80
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "imagenet_templates.txt"), "w") as f:
        f.write("\n".join(found["imagenet_templates"]) + "\n")


if __name__ == "__main__":
    main()
