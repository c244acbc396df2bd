"""A small character-level GPT trained on the Zen of Python (the text ships with Python: ``import this``).

The model is the GPT shape in miniature: token and position embeddings, pre-norm transformer
blocks whose attention is ``F.scaled_dot_product_attention(..., is_causal=True)``, a final
LayerNorm and a linear head, trained with AdamW on random windows of the text. At the end it
samples text from a prompt with ``torch.multinomial``. ``--blocks encoder`` builds the same model
from ``nn.TransformerEncoder`` layers with a causal mask instead of the hand-written blocks.

    python examples/char_transformer.py                   # on the CPU (NumPy)
    python examples/char_transformer.py --device wgpu     # on a GPU through WebGPU
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import math
import time

import wgtorch as torch
from wgtorch import nn
from wgtorch.nn import functional as F


def zen_of_python() -> str:
    """The text ``import this`` prints (stored ROT13-encoded in the ``this`` module)."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the text
        import this
    return codecs.decode(this.s, "rot13")


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharGPT(nn.Module):
    """(B, T) character ids -> (B, T, vocab) next-character logits."""

    def __init__(self, vocab: int, context: int, dim: int = 64, heads: int = 4, layers: int = 2,
                 dropout: float = 0.1, blocks: str = "gpt"):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(context, dim)
        if blocks == "encoder":
            layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout, activation="gelu", batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, layers)
        else:
            self.blocks = nn.Sequential(*(Block(dim, heads, dropout) for _ in range(layers)))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        if isinstance(self.blocks, nn.TransformerEncoder):
            mask = nn.Transformer.generate_square_subsequent_mask(t, device=idx.device)
            x = self.blocks(x, mask=mask, is_causal=True)
        else:
            x = self.blocks(x)
        return self.head(self.ln(x))

    @torch.no_grad()
    def generate(self, idx, new_tokens: int, temperature: float = 0.8, generator=None):
        for _ in range(new_tokens):
            logits = self(idx[:, -self.context:])[:, -1, :] / temperature
            probs = F.softmax(logits, dim=-1)
            idx = torch.cat([idx, torch.multinomial(probs, 1, generator=generator)], dim=1)
        return idx


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, wgpu, wgpu:1, cuda ... (default: cpu)")
    parser.add_argument("--steps", type=int, default=600, help="training steps (default: 600)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--context", type=int, default=32, help="characters the model sees (default: 32)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--blocks", choices=("gpt", "encoder"), default="gpt",
                        help="hand-written blocks with SDPA, or nn.TransformerEncoder (default: gpt)")
    parser.add_argument("--sample", type=int, default=200, help="characters to sample at the end (default: 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    text = zen_of_python()
    chars = sorted(set(text))
    encode = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([encode[ch] for ch in text], dtype=torch.int64, device=device)
    model = CharGPT(len(chars), args.context, blocks=args.blocks).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    offsets = torch.arange(args.context + 1, device=device)
    print(f"{len(text)} characters, vocabulary {len(chars)}, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, on {device}")

    start, losses = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        starts = torch.randint(0, len(text) - args.context - 1, (args.batch_size, 1), device=device)
        window = data[starts + offsets]  # (B, context + 1)
        x, y = window[:, :-1], window[:, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            losses.append(loss.item())
            print(f"step {step:>5}  loss {losses[-1]:.4f}")
    print(f"trained {args.steps} steps in {time.perf_counter() - start:.1f} s "
          f"(uniform guessing: loss {math.log(len(chars)):.4f})")

    model.eval()
    prompt = torch.tensor([[encode[ch] for ch in "Beautiful is "]], dtype=torch.int64, device=device)
    out = model.generate(prompt, args.sample, generator=torch.Generator(device=device).manual_seed(args.seed))
    print("sample:", "".join(chars[i] for i in out[0].tolist()))
    print(f"final loss: {losses[-1]:.4f}")
    return losses[-1]


if __name__ == "__main__":
    main()
