#!/usr/bin/env python3
"""Prompts -> a context file for text-conditioned HART (`tessera sample --context`).

Until Tessera has a text-encoder plugin, HART's text features are computed here with the
text model HART was trained with (mit-han-lab/Qwen2-VL-1.5B-Instruct, a Qwen2-1.5B LLM),
following spec/hart.md section 2.3 (mit-han-lab/hart `hart/utils/tools.py` encode_prompts):

1. each prompt is tokenized to exactly --max-length ids (padded, truncated);
   mask = ids != pad id; position ids = cumsum(mask) - 1;
2. optionally (HART's default, `use_llm_system_prompt`) a fixed instruction is tokenized
   without padding and put before every prompt; the LLM runs on [instruction | prompt] with
   mask [1...1 | mask], and only the prompt's positions are kept;
3. the features are the LLM's last hidden states (after its final norm), in float32.

The instruction is HART's own text; it is not copied into Tessera. Give it with
--system-prompt-file, or point --hart-repo at a checkout of mit-han-lab/hart to read it from
`hart/utils/constants.py` (`llm_system_prompt`). Without either, no instruction is used
(HART's `--use_llm_system_prompt False`).

Output (safetensors, written to a temporary file and renamed):
  context               float32 [N, T, 1536]
  context_mask          bool    [N, T]
  context_position_ids  int32   [N, T]

Needs torch and transformers (pip install torch transformers), and the text model's files.
Example:
  python3 scripts/hart-context.py --text-model Qwen2-VL-1.5B-Instruct \\
      --hart-repo hart --out prompts.safetensors "a red fox in the snow" "a lighthouse at dusk"
"""
import argparse
import json
import os
import struct
import sys
import tempfile


def read_system_prompt(args):
    if args.system_prompt_file:
        with open(args.system_prompt_file, encoding="utf-8") as f:
            return f.read()
    if args.hart_repo:
        sys.path.insert(0, os.path.join(args.hart_repo, "hart", "utils"))
        try:
            import constants  # hart/utils/constants.py of the given checkout
        except ImportError as e:
            sys.exit(f"--hart-repo {args.hart_repo}: cannot import hart/utils/constants.py ({e})")
        return constants.llm_system_prompt
    return None


def tokenize(tokenizer, text, max_length, pad):
    out = tokenizer(text, return_tensors="pt", padding="max_length" if pad else "longest", max_length=max_length, truncation=True)
    return out.input_ids[0]


def encode(prompts, tokenizer, model, max_length, system_prompt):
    import torch

    ids = torch.stack([tokenize(tokenizer, p, max_length, True) for p in prompts])
    mask = ids != tokenizer.pad_token_id
    positions = torch.cumsum(mask, dim=1) - 1
    with torch.inference_mode():
        if system_prompt is None:
            hidden = model(ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
        else:
            head = tokenize(tokenizer, system_prompt, max_length, False).unsqueeze(0).repeat(ids.shape[0], 1)
            full_ids = torch.cat([head, ids], dim=1)
            full_mask = torch.cat([torch.ones_like(head, dtype=torch.bool), mask], dim=1)
            hidden = model(full_ids, attention_mask=full_mask, output_hidden_states=True).hidden_states[-1][:, head.shape[1]:]
    return hidden.float().contiguous(), mask.contiguous(), positions.to(torch.int32).contiguous()


def write_safetensors(path, tensors):
    """Writes {name: (dtype tag, shape, bytes)} in the safetensors layout, atomically."""
    header, offset, blobs = {}, 0, []
    for name, (tag, shape, data) in tensors.items():
        header[name] = {"dtype": tag, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".hart-context-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("prompts", nargs="*", help="prompts, one image each")
    p.add_argument("--prompts-file", help="a text file with one prompt per line (added after the positional prompts)")
    p.add_argument("--text-model", required=True, help="folder (or hub id) of mit-han-lab/Qwen2-VL-1.5B-Instruct")
    p.add_argument("--max-length", type=int, default=300, help="context tokens per prompt (HART-0.7B: 300)")
    p.add_argument("--system-prompt-file", help="HART's instruction text (see the file comment)")
    p.add_argument("--hart-repo", help="a mit-han-lab/hart checkout to read the instruction from")
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    args = p.parse_args()

    prompts = list(args.prompts)
    if args.prompts_file:
        with open(args.prompts_file, encoding="utf-8") as f:
            prompts += [line.strip() for line in f if line.strip()]
    if not prompts:
        sys.exit("no prompts: give them as arguments or with --prompts-file")

    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.text_model)
    model = AutoModel.from_pretrained(args.text_model).eval()
    context, mask, positions = encode(prompts, tokenizer, model, args.max_length, read_system_prompt(args))
    write_safetensors(args.out, {
        "context": ("F32", context.shape, context.numpy().tobytes()),
        "context_mask": ("BOOL", mask.shape, mask.numpy().astype("uint8").tobytes()),
        "context_position_ids": ("I32", positions.shape, positions.numpy().tobytes()),
    })
    print(f"{args.out}: {len(prompts)} prompts, context {list(context.shape)}")


if __name__ == "__main__":
    main()
