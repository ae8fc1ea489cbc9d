"""Spawned gloo process groups and the checks each rank runs (imported by the spawned children).

``run_spawned(fn, world, *args)`` starts ``world`` processes with
``torch.multiprocessing.start_processes`` (MASTER_ADDR=127.0.0.1, a free port each time,
gloo), runs ``fn(rank, world, *args)`` in each and joins them within a deadline: a rank that
raises fails the test with its traceback; a hang is killed and fails it too.

``check_dense`` / ``check_packed``: every rank builds the same full inputs from a seed,
computes single-process ``attention`` (``varlen_attention``, ``pattern_varlen_attention``)
on them with autograd, then its shard through ``ring_attention`` (``ring_varlen_attention``)
and compares its shard of the output and of dQ, dK, dV: float64 within 1e-12, float32
within 1e-5, no NaN anywhere. ``chunk`` (positions per message: small ones make many
sub-rings out of a short sequence) and ``overlap`` go to the ring unchanged.
"""

from __future__ import annotations

import datetime
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from selfattn.distributed import ring_attention, ring_varlen_attention, shard_sequence
from selfattn.functional import attention, varlen_attention
from selfattn.functional.sparse.varlen import pattern_varlen_attention

TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, fn, world: int, port: int, args: tuple) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        fn(rank, world, *args)
    finally:
        dist.destroy_process_group()


def run_spawned(fn, world: int, *args, timeout: float = 90.0, start_method: str = "fork") -> None:
    """Run ``fn(rank, world, *args)`` on ``world`` gloo ranks; fail on an error or a hang."""
    ctx = mp.start_processes(_entry, args=(fn, world, free_port(), args), nprocs=world,
                             join=False, start_method=start_method)
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=1.0):
        if time.monotonic() > deadline:
            for p in ctx.processes:  # only the processes this call started
                if p.is_alive():
                    p.kill()
            raise TimeoutError(f"spawned ranks still running after {timeout:.0f} s")


def _close(name: str, got: torch.Tensor, want: torch.Tensor, tol: float) -> None:
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    assert not bool(torch.isnan(got).any()), f"{name}: NaN"
    err = (got - want).abs().max().item() if got.numel() else 0.0
    assert err <= tol, f"{name}: max error {err:.3g} > {tol:.0e}"


def _split(x: torch.Tensor, rank: int, world: int, dim: int, sharding: str,
           lengths: list[int] | None) -> torch.Tensor:
    if lengths is None:
        return shard_sequence(x, world, rank, dim=dim, sharding=sharding)
    return x.narrow(dim, sum(lengths[:rank]), lengths[rank])


def _inputs(shapes, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=torch.float64).to(dtype) for s in shapes]


def check_dense(rank: int, world: int, *, b=2, h=2, length=24, d=8, dv=None, dtype=torch.float64,
                causal=False, key_lengths=None, pattern=None, sharding="contiguous",
                lengths=None, seed=0, label="", chunk=None, overlap=True) -> None:
    """One case of ``ring_attention`` against ``attention`` on the gathered sequence."""
    dv = d if dv is None else dv
    qf, kf, vf, gf = _inputs([(b, h, length, d), (b, h, length, d), (b, h, length, dv),
                              (b, h, length, dv)], dtype, seed)
    kl = None if key_lengths is None else torch.tensor(key_lengths)
    full = [x.clone().requires_grad_() for x in (qf, kf, vf)]
    ref = attention(*full, causal=causal, key_lengths=kl, pattern=pattern)
    (ref * gf).sum().backward()
    part = [_split(x, rank, world, 2, sharding, lengths).clone().requires_grad_() for x in (qf, kf, vf)]
    out = ring_attention(*part, causal=causal, key_lengths=kl, pattern=pattern, sharding=sharding,
                         chunk=chunk, overlap=overlap)
    (out * _split(gf, rank, world, 2, sharding, lengths)).sum().backward()
    tol = TOL[dtype]
    where = (f"[{label} rank {rank}/{world} {dtype} causal={causal} {sharding} {pattern} "
             f"chunk={chunk} overlap={overlap}]")
    _close(f"out {where}", out, _split(ref, rank, world, 2, sharding, lengths), tol)
    for name, p, f in zip(("dq", "dk", "dv"), part, full, strict=True):
        _close(f"{name} {where}", p.grad, _split(f.grad, rank, world, 2, sharding, lengths), tol)


def check_packed(rank: int, world: int, *, set_lengths, h=2, d=8, dtype=torch.float64,
                 causal=False, pattern=None, sharding="contiguous", lengths=None, seed=0,
                 label="", chunk=None, overlap=True) -> None:
    """One case of ``ring_varlen_attention`` against single-process packed attention."""
    offsets = torch.tensor([0, *torch.tensor(set_lengths, dtype=torch.long).cumsum(0).tolist()])
    n = int(offsets[-1])
    qf, kf, vf, gf = _inputs([(n, h, d)] * 4, dtype, seed)
    full = [x.clone().requires_grad_() for x in (qf, kf, vf)]
    if pattern is None:
        ref = varlen_attention(*full, offsets, causal=causal)
    else:
        ref = pattern_varlen_attention(*full, offsets, pattern, causal=causal)
    if ref.requires_grad:
        (ref * gf).sum().backward()
    else:  # pattern_varlen_attention on zero rows returns a tensor off the graph
        assert n == 0
        for x in full:
            x.grad = torch.zeros_like(x)
    part = [_split(x, rank, world, 0, sharding, lengths).clone().requires_grad_() for x in (qf, kf, vf)]
    out = ring_varlen_attention(*part, offsets, causal=causal, pattern=pattern, sharding=sharding,
                                chunk=chunk, overlap=overlap)
    (out * _split(gf, rank, world, 0, sharding, lengths)).sum().backward()
    tol = TOL[dtype]
    where = (f"[{label} packed {set_lengths} rank {rank}/{world} {dtype} causal={causal} {pattern} "
             f"chunk={chunk} overlap={overlap}]")
    _close(f"out {where}", out, _split(ref, rank, world, 0, sharding, lengths), tol)
    for name, p, f in zip(("dq", "dk", "dv"), part, full, strict=True):
        _close(f"{name} {where}", p.grad, _split(f.grad, rank, world, 0, sharding, lengths), tol)


def check_half(rank: int, world: int, *, dtype, b=1, h=2, length=48, d=8, causal=False,
               key_lengths=None, sharding="contiguous", seed=0, label="", chunk=None) -> None:
    """Half precision: the ring's error against float64 stays within twice single-process
    ``attention``'s error in the same dtype (plus 1e-3): merging blocks in float32 must not
    add error of its own."""
    shapes = [(b, h, length, d)] * 4
    x64 = _inputs(shapes, torch.float64, seed)
    kl = None if key_lengths is None else torch.tensor(key_lengths)

    def single(dt):
        full = [x.detach().to(dt).clone().requires_grad_() for x in x64[:3]]
        out = attention(*full, causal=causal, key_lengths=kl)
        (out * x64[3].to(dt)).sum().backward()
        return [_split(t, rank, world, 2, sharding, None).double() for t in (out, *[x.grad for x in full])]

    want, base = single(torch.float64), single(dtype)
    part = [_split(x.to(dtype), rank, world, 2, sharding, None).clone().requires_grad_() for x in x64[:3]]
    out = ring_attention(*part, causal=causal, key_lengths=kl, sharding=sharding, chunk=chunk)
    (out * _split(x64[3].to(dtype), rank, world, 2, sharding, None)).sum().backward()
    got = [t.double() for t in (out, *[p.grad for p in part])]
    for name, g, w, s in zip(("out", "dq", "dk", "dv"), got, want, base, strict=True):
        bound = 2 * (s - w).abs().max().item() + 1e-3
        _close(f"{name} [{label} rank {rank}/{world} {dtype} causal={causal} {sharding}]", g, w, bound)


def check_two_layers(rank: int, world: int, *, length=40, dim=12, heads=3, sharding="zigzag",
                     seed=0, chunk=None) -> None:
    """Two attention layers with shared projections in one graph: each rank's parameter
    gradients, summed over the ranks, equal single-process ones (what DDP would all-reduce)."""
    torch.manual_seed(seed)
    proj = torch.nn.Linear(dim, 3 * dim).double()
    x = torch.randn(2, length, dim, dtype=torch.float64)

    def block(h, attend):
        q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in proj(h).chunk(3, -1))
        return h + attend(q, k, v).transpose(1, 2).flatten(2)

    def single(q, k, v):
        return attention(q, k, v, causal=True)

    def ring(q, k, v):
        return ring_attention(q, k, v, causal=True, sharding=sharding, chunk=chunk)

    proj.zero_grad()
    (block(block(x, single), single) ** 2).sum().backward()
    want = [p.grad.clone() for p in proj.parameters()]
    proj.zero_grad()
    xs = shard_sequence(x, world, rank, dim=1, sharding=sharding)
    (block(block(xs, ring), ring) ** 2).sum().backward()
    for name, p, w in zip(("weight", "bias"), proj.parameters(), want, strict=True):
        g = p.grad.clone()
        dist.all_reduce(g)
        _close(f"two layers: d{name} [rank {rank}/{world}]", g, w, 1e-11)
