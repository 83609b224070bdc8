#!/usr/bin/env python3
"""Weight sharing through routemat's node module, checked against plain PyTorch.

The README's 5 x 3 routing matrix G (idx = [0, 1, 2, 2, 2]) sends 3 parameter
rows u to 5 rows w = G u: u3 feeds three outputs, so dC/du3 is the sum of
their gradients. The model

    u (3 x K parameters) -> w = G u (5 x K) -> y = w a + b (Linear K -> 1) -> MSE

is built twice from the same initial values: once with routemat.NodeModule,
once with torch.index_select. Both are trained with plain SGD for a few steps;
at every step the loss, dC/du and dC/dw must agree between the two exactly
(torch.equal, in float64: both sum a shared row's gradients in row order), and
are printed. Exits 1 on a mismatch, 77 when torch is not installed.

Run: PYTHONPATH=<build>/python /usr/bin/python3 examples/weight_sharing_model.py
"""

import sys

try:
    import torch
except ImportError:
    print("torch is not installed: skipping the weight sharing example")
    sys.exit(77)

import routemat
from routemat.autograd import NodeModule

IDX = [0, 1, 2, 2, 2]  # G is 5 x 3
K = 2
STEPS = 5
LR = 0.05


class SharedRoutemat(torch.nn.Module):
    def __init__(self, u0, head):
        super().__init__()
        self.u = torch.nn.Parameter(u0.clone())
        self.share = NodeModule(IDX, 3)  # the map and plan are built once, here
        self.head = head

    def forward(self):
        self.w = self.share(self.u)  # w = G u
        self.w.retain_grad()
        return self.head(self.w).squeeze(1)


class SharedTorch(torch.nn.Module):
    def __init__(self, u0, head):
        super().__init__()
        self.u = torch.nn.Parameter(u0.clone())
        self.register_buffer("idx", torch.tensor(IDX))
        self.head = head

    def forward(self):
        self.w = torch.index_select(self.u, 0, self.idx)  # w = G u
        self.w.retain_grad()
        return self.head(self.w).squeeze(1)


def readme_numbers():
    """The README's numbers: u = (1, 2, 3), dC/dw = (1, 10, 100, 1000, 10000)."""
    share = NodeModule(IDX, 3)
    u = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    w = share(u)
    w.backward(torch.tensor([1.0, 10, 100, 1000, 10000], dtype=torch.float64))
    print(f"README: w = G u = {w.tolist()}, dC/du = G^T dC/dw = {u.grad.tolist()}")
    return w.tolist() == [1, 2, 3, 3, 3] and u.grad.tolist() == [1, 10, 11100]


def main():
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    print(f"routemat {routemat.library_path()} ({routemat.active_isa()}), "
          f"torch {torch.__version__}")
    ok = readme_numbers()

    u0 = torch.randn(3, K)
    head = torch.nn.Linear(K, 1)
    target = torch.randn(5)
    ours = SharedRoutemat(u0, head)
    theirs = SharedTorch(u0, torch.nn.Linear(K, 1))
    theirs.head.load_state_dict(head.state_dict())
    opt_ours = torch.optim.SGD(ours.parameters(), lr=LR)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=LR)

    for step in range(STEPS):
        losses = []
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(), target)
            loss.backward()
            losses.append(loss)
        same = (torch.equal(losses[0], losses[1]) and torch.equal(ours.u.grad, theirs.u.grad)
                and torch.equal(ours.w.grad, theirs.w.grad)
                and torch.equal(ours.head.weight.grad, theirs.head.weight.grad))
        # dC/du3 is the sum of the gradients of the three rows it feeds.
        fan_in = ours.w.grad[2:].sum(0)
        print(f"step {step}: loss {losses[0].item():.12f} (torch {losses[1].item():.12f})")
        print(f"  dC/du routemat     {ours.u.grad.tolist()}")
        print(f"  dC/du index_select {theirs.u.grad.tolist()}")
        print(f"  dC/dw3 + dC/dw4 + dC/dw5 = {fan_in.tolist()}")
        if not same:
            diff = (ours.u.grad - theirs.u.grad).abs().max().item()
            print(f"MISMATCH at step {step}: max |dC/du difference| = {diff:g}")
            ok = False
            break
        if not torch.allclose(ours.u.grad[2], fan_in, rtol=1e-12, atol=0):
            print(f"MISMATCH at step {step}: dC/du3 is not the sum of its rows' gradients")
            ok = False
            break
        opt_ours.step()
        opt_theirs.step()
    if ok and not torch.equal(ours.u, theirs.u):
        print("MISMATCH: the parameters differ after training")
        ok = False
    print("gradients equal at every step (torch.equal, float64)" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
