"""The training loop (paper Sec. 4.1): Adam, stepped learning-rate decay, batch 64, gradient-norm clipping, Eq. (4).

The dataset lives as tensors on the training device; each batch is an index into them (no per-sample Python).
Shuffling and flips draw from a seeded CPU ``torch.Generator`` whose state is checkpointed with the model,
optimizer, schedule and the global RNG, atomically at the end of every epoch; a run restarted from its
checkpoint ends bit-for-bit like an uninterrupted one (same device and threads).

With ``flip_train``, half of the samples of every batch (drawn per epoch) are mirrored; they enter the pose
term only, since the coarse meshes of heavy edge matching have no exact left/right counterpart. The learning
rate steps per batch (``decay_every`` epochs apart), so fractional decay periods work. Under ``torchrun`` the
batch is split between processes (:mod:`hgnlib.experiments.distributed`).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..data.dataset import PoseData, flip_batch
from ..errors import DataError
from ..fileio import atomic_path, save_json
from ..losses import LossWeights, hgn_loss
from ..models.graph import Graph
from ..models.initialisation import initialise
from ..models.registry import build_model, output_layers
from ..profiles import Recipe
from ..safeload import load_torch
from .config import ExperimentConfig
from .distributed import DistContext, unwrap
from .evaluate import evaluate

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "generator", "torch_rng", "cuda_rng", "epoch", "history")


@dataclass
class TrainingData:
    """What the loop consumes, on the training device: the training samples, their coarse-mesh targets
    (output name -> (N, V, 3); empty without the mesh loss), the real-node masks of padded mesh outputs, and the
    validation samples of the history."""

    train: PoseData
    mesh_targets: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    validation: PoseData


def scale_output_init(model: nn.Module, scale: float) -> None:
    """Multiply the initial weights and biases of the output layers by ``scale`` (1 leaves them)."""
    if scale == 1.0:
        return
    with torch.no_grad():
        for layer in output_layers(model):
            for param in layer.parameters():
                param.mul_(scale)


def batches(order: torch.Tensor, size: int, min_size: int) -> list[torch.Tensor]:
    """``order`` cut into batches of ``size``; a last batch smaller than ``min_size`` is dropped (batch norm)."""
    cut = list(torch.split(order, size))
    return cut if not cut or len(cut[-1]) >= min_size else cut[:-1]


def autocast(recipe: Recipe, device: torch.device):
    """Mixed precision (bfloat16) when the recipe asks for it."""
    if not recipe.amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train_model(config: ExperimentConfig, graphs: dict[str, Graph] | None, data: TrainingData, out: Path,
                ctx: DistContext = DistContext(), progress: bool = True) -> tuple[nn.Module, list[dict], dict]:
    """Train ``config`` (resuming from ``out/checkpoint.pt`` when present); returns the model (unwrapped, on the
    device), the history (one entry per validation point) and the timing: the seconds and epochs of this call,
    and ``total_seconds`` including the training before a resume."""
    recipe: Recipe = config.recipe
    device = data.train.inputs.device
    torch.manual_seed(config.seed)
    model = build_model(config.model_config, graphs)
    initialise(model, recipe.init)
    scale_output_init(model, recipe.output_init_scale)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, foreach=True)
    n = len(data.train)
    steps = len(batches(torch.arange(n), recipe.batch_size, 2 * ctx.world_size))
    if steps == 0:
        raise DataError(None, f"{n} training samples cannot make a batch of {2 * ctx.world_size}: the run would "
                              "train zero steps", "use more training data (--set train_limit=null, a lower stride)")
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, max(1, round(recipe.decay_every * steps)), recipe.lr_decay)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict] = []
    start_epoch, trained_before = 0, 0.0  # seconds trained before a resume
    checkpoint = out / CHECKPOINT
    if checkpoint.exists():
        state = load_torch(checkpoint, "training checkpoint", f"delete {checkpoint} or pass --restart",
                           map_location=device)
        missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
        if missing:
            raise DataError(checkpoint, f"not a training checkpoint: entries {missing} are missing",
                            f"delete {checkpoint} or pass --restart")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state["cuda_rng"] is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, start_epoch = state["history"], state["epoch"]
        trained_before = state.get("seconds", 0.0)
    net = ctx.wrap(model)
    if recipe.compile:
        net = torch.compile(net)
    weights = LossWeights(pose=recipe.loss_scale, mesh=recipe.loss_scale * config.lambda_m,
                          reduction="sum" if recipe.loss == "paper" else "mse")
    eval_points = {round(k * steps / recipe.evals_per_epoch) for k in range(1, recipe.evals_per_epoch + 1)}
    bar = tqdm(total=recipe.epochs * steps, initial=start_epoch * steps, desc=f"train {config.label}", unit="step",
               disable=not (progress and ctx.is_main), smoothing=0.05)
    seconds = 0.0
    for epoch in range(start_epoch, recipe.epochs):
        started = time.perf_counter()
        net.train()
        order = torch.randperm(n, generator=generator)
        flipped = (torch.rand(n, generator=generator) < 0.5).to(device) if config.flip_train else None
        total, count = torch.zeros((), device=device), 0  # summed on the device, read at validation points
        for b, index in enumerate(batches(order, recipe.batch_size, 2 * ctx.world_size), start=1):
            index = ctx.shard(index).to(device)
            x, y = data.train.inputs[index], data.train.targets[index]
            keep = None
            if flipped is not None:
                flip = flipped[index]
                x, y = flip_batch(x, y, flip)
                keep = ~flip
            with autocast(recipe, device):
                outputs = net(x)
            preds = {"pose": outputs["joints"].float(), **{k: outputs[k].float() for k in data.mesh_targets}}
            targets = {"pose": y, **{k: v[index] for k, v in data.mesh_targets.items()}}
            loss, _ = hgn_loss(preds, targets, data.masks, weights, mesh_samples=keep)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), recipe.max_norm)
            optimizer.step()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            total, count = total + loss.detach(), count + 1
            bar.update(1)
            if b in eval_points and ctx.is_main:
                val, _ = evaluate(model, data.validation, config.flip_test, summary_only=True)
                history.append({"epoch": round(epoch + b / steps, 4), "step": epoch * steps + b,
                                "loss": float(total) / count, "lr": lr, **val})
                total, count = torch.zeros((), device=device), 0
                bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", val_mpjpe=f"{val['mpjpe']:.1f}")
        seconds += time.perf_counter() - started
        if ctx.is_main:
            save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "epoch": epoch + 1, "history": history, "config": config.to_dict(),
                "seconds": trained_before + seconds})
            save_json(out / HISTORY, history)
        ctx.barrier()
    bar.close()
    return unwrap(model), history, {"seconds": seconds, "epochs": recipe.epochs - start_epoch,
                                    "total_seconds": trained_before + seconds}
