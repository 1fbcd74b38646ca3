"""bfloat16 autocast on a CPU without native bfloat16 kernels: float32 products rounded to bfloat16, and a note."""
import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import hgnlib.experiments as experiments
from hgnlib import precision
from hgnlib.cli import main
from hgnlib.experiments import ExperimentConfig, parallel
from hgnlib.profiles import get_profile


def test_gpus_count_as_native_and_float32_needs_no_warning(monkeypatch):
    assert precision.native_bf16("cuda")
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.autocast_note(False, "cpu") is None


@pytest.mark.parametrize("flags, native", [({"avx512_bf16": True}, True), ({"amx_bf16": True}, True),
                                           ({"avx512_f": True, "avx512_bw": True}, False), ({}, False)])
def test_only_bfloat16_instructions_count_as_native_on_a_cpu(monkeypatch, flags, native):
    """oneDNN's emulation on plain AVX-512 is slower than the float32 products: only real bfloat16 instructions."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: dict(flags))
    assert precision.native_bf16("cpu") is native
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    assert precision.native_bf16("cpu") is False


def test_the_note_depends_on_the_cpu(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.autocast_note(True, "cpu") is None
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    note = precision.autocast_note(True, "cpu")
    assert "bfloat16" in note and "--device cuda" in note and "float32 products" in note


def _operands(name: str) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3)
    r = lambda *shape: torch.randn(*shape, generator=g).bfloat16()  # noqa: E731
    return {"mm": (r(96, 300), r(300, 40)), "addmm": (r(40), r(96, 300), r(300, 40)),
            "bmm": (r(4, 30, 50), r(4, 50, 20)), "baddbmm": (r(4, 30, 20), r(4, 30, 50), r(4, 50, 20))}[name]


@pytest.mark.parametrize("name", ["mm", "addmm", "bmm", "baddbmm"])
def test_products_in_float32_are_the_native_bfloat16_products_up_to_one_rounding_step(name):
    args = _operands(name)
    native = getattr(torch, name)(*args)
    with precision.Bf16ProductsInFloat32():
        emulated = getattr(torch, name)(*args)
    assert emulated.dtype == torch.bfloat16 and emulated.shape == native.shape
    assert torch.equal(emulated, getattr(torch, name)(*(a.float() for a in args)).bfloat16())
    same = (emulated == native).float().mean().item()
    step = native.float().abs() * 2.0 ** -7 + 1e-30  # one bfloat16 step (8 significant bits) at the native value
    assert same > 0.99 and bool(((emulated.float() - native.float()).abs() <= step).all())


def test_other_dtypes_pass_through_and_pytorch_kernels_come_back_on_exit():
    a, b = _operands("mm")
    native = torch.mm(a, b)
    with precision.Bf16ProductsInFloat32():
        wide = torch.mm(a.float(), b.float())
        assert precision.replacing()
    assert not precision.replacing()
    assert torch.equal(wide, a.float() @ b.float()) and torch.equal(torch.mm(a, b), native)


def test_autocast_training_steps_get_their_products_replaced_forward_and_backward(monkeypatch):
    seen = []
    kernel = precision._kernel

    def counting(name):
        inner = kernel(name)
        return lambda *args, **kwargs: seen.append((name, args[-1].dtype)) or inner(*args, **kwargs)

    monkeypatch.setattr(precision, "_kernel", counting)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(24, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    x, y = torch.randn(128, 24), torch.randn(128, 3)

    def grads(mode):
        net.zero_grad()
        with mode:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(x)
            ((out.float() - y) ** 2).sum().backward()
        return torch.cat([p.grad.flatten() for p in net.parameters()])

    native = grads(contextlib.nullcontext())
    emulated = grads(precision.Bf16ProductsInFloat32())
    assert len(seen) == 5 and all(dtype == torch.bfloat16 for _, dtype in seen)  # 2 forward, 3 backward
    assert ((emulated - native).norm() / native.norm()).item() < 1e-2


class EveryOperation(TorchDispatchMode):
    """The same replacement through Python's dispatch mode, which sees every operation (the first implementation)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in precision.PRODUCTS and func._overloadname == "default" and any(
                isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16 for a in args):
            return func(*(a.float() if isinstance(a, torch.Tensor) else a for a in args), **(kwargs or {})).bfloat16()
        return func(*args, **(kwargs or {}))


def test_training_under_the_kernels_equals_training_under_a_dispatch_mode_bit_for_bit():
    from hgnlib.models.registry import build_model
    from hgnlib.tools import bench

    torch.manual_seed(0)
    start = build_model("semgcn-128")
    x, targets = bench.random_batch(start, 64, torch.device("cpu"), 0)

    def trained(mode):
        model = build_model("semgcn-128")
        model.load_state_dict(start.state_dict())
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        params = list(model.parameters())
        with mode:
            for _ in range(3):
                bench.train_once(model, params, optimizer, x, targets, bench.bf16_autocast(torch.device("cpu"), True))
        return [p.detach().clone() for p in params]

    by_mode, by_kernels = trained(EveryOperation()), trained(precision.Bf16ProductsInFloat32())
    assert all(torch.equal(a, b) for a, b in zip(by_mode, by_kernels))


@pytest.mark.parametrize("amp, native, replaced", [(True, False, True), (True, True, False), (False, False, False)])
def test_the_products_are_replaced_only_under_autocast_on_a_cpu_without_native_kernels(monkeypatch, amp, native,
                                                                                          replaced):
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    with precision.autocast_products(amp, "cpu") as active:
        now = precision.replacing()
    assert active == replaced and now == replaced and not precision.replacing()


def test_the_quick_profile_trains_in_float32_and_the_standard_under_autocast():
    assert not get_profile("quick").recipe.amp and get_profile("standard").recipe.amp


class Stop(Exception):
    pass


def test_hgn_train_notes_it_and_trains_with_float32_products(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)

    def refuse(*args, **kwargs):
        assert precision.replacing()
        raise Stop

    monkeypatch.setattr(experiments, "run_experiment", refuse)
    with pytest.raises(Stop):
        main(["train", "--model", "hgn-64", "--profile", "smoke", "--amp", "--device", "cpu"])
    assert "no native bfloat16 kernels" in capsys.readouterr().err


@pytest.mark.parametrize("amp, warned", [(True, True), (False, False)])
def test_a_suite_notes_it_once_and_trains_with_float32_products_on_such_a_cpu(monkeypatch, amp, warned):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    monkeypatch.setattr(parallel, "cached_result", lambda config: None)
    monkeypatch.setattr(parallel, "prepare", lambda config: None)
    trained = []
    monkeypatch.setattr(parallel, "run_experiment",
                        lambda config, **kwargs: trained.append(precision.replacing()) or config)
    configs = [ExperimentConfig("semgcn-128", profile="smoke", seed=s, overrides=(("amp", amp),)) for s in (0, 1)]
    logged = []
    parallel.run_many(configs, jobs=1, progress=False, device="cpu", log=logged.append)
    notes = [line for line in logged if "bfloat16" in line]
    assert len(notes) == (1 if warned else 0) and len(trained) == 2
    assert trained == [amp, amp]
