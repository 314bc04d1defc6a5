"""The network and ISM loss shared by the PyTorch reference scripts: scoreflow's residual
MLP (d -> widths -> d, residual connections between equal widths) and ISM with the exact
divergence by d double-backward passes, as a PyTorch user writes it."""
import torch


class ResMlp(torch.nn.Module):
    def __init__(self, d, widths, activation=torch.nn.functional.silu):
        super().__init__()
        self.act = activation
        self.layers = torch.nn.ModuleList()
        prev = d
        for w in widths:
            self.layers.append(torch.nn.Linear(prev, w))
            prev = w
        self.out = torch.nn.Linear(prev, d)

    def forward(self, x):
        h = x
        for k, layer in enumerate(self.layers):
            a = self.act(layer(h))
            h = h + a if k > 0 and h.shape[1] == a.shape[1] else a
        return self.out(h)


def ism_loss(net, x):
    x = x.detach().requires_grad_(True)
    s = net(x)
    div = torch.zeros(x.shape[0])
    for i in range(x.shape[1]):
        div = div + torch.autograd.grad(s[:, i].sum(), x, create_graph=True)[0][:, i]
    return (0.5 * (s ** 2).sum(1) + div).mean()
