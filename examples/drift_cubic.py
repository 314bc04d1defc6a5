# A forward drift for `scoreflow estimate malliavin --sde script:path=examples/drift_cubic.py`:
# TorchScript source; x is [n, d] float64, t the time. scoreflow takes ∇b and ∇²b from
# autograd. Optional: def sigma(t: float) -> float replaces the constant sigma.
def drift(x: Tensor, t: float) -> Tensor:
    return -x - x * x * x


def sigma(t: float) -> float:
    return 0.8
