"""What keeps the agents of several processes in lockstep.

Each process acts on its own instances, yet every agent must take the same
steps, or the agents drift apart. The RLKD agent gathers every process's
episode in one collective (:meth:`AgentSync.gather`) and each process runs
the same update on all of them, deciding whether to learn from the gathered
values alone; :meth:`AgentSync.check_identical` verifies now and then that
they did not drift. The MTKD-RL agent instead averages each optimiser
step's gradients in one flat bucket (:meth:`AgentSync.average_gradients`),
weighted by how many instances each process averaged over.

In a single process every method is a no-op that launches nothing.
"""
import torch
import torch.distributed as torch_dist


def world_size(group=None):
    """Processes in ``group`` (1 without an initialised process group)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_world_size(group)
    return 1


def flatten_gradients(params):
    """One flat tensor of the parameters' gradients (zeros where None)."""
    return torch.cat([
        p.grad.reshape(-1)
        if p.grad is not None else torch.zeros_like(p).reshape(-1)
        for p in params
    ])


class AgentSync:
    """The collectives of one agent, or nothing in a single process.

    Args:
        group (ProcessGroup, optional): The processes whose agents must stay
            identical. Defaults to None (the default group).

    Attributes:
        collectives (int): Collectives launched so far (for tests and the
            docs' per-iteration count).
    """

    def __init__(self, group=None):
        self.group = group
        self.collectives = 0

    @property
    def world_size(self):
        return world_size(self.group)

    @property
    def active(self):
        """Whether there are other processes to agree with."""
        return self.world_size > 1

    def sum(self, values):
        """``values`` summed over processes (itself when alone)."""
        if not self.active:
            return values
        values = values.clone()
        torch_dist.all_reduce(values, group=self.group)
        self.collectives += 1
        return values

    def gather(self, row):
        """Every process's ``row`` (1-D, the same size everywhere), stacked
        in rank order: shape (world size, len(row)), in one collective."""
        if not self.active:
            return row.unsqueeze(0)
        rows = row.new_empty(self.world_size * row.shape[0])
        # all_gather_single is the newer name (newer torch deprecates the
        # other); both take the same arguments.
        gather = getattr(torch_dist, 'all_gather_single',
                         torch_dist.all_gather_into_tensor)
        gather(rows, row, group=self.group)
        self.collectives += 1
        return rows.view(self.world_size, -1)

    def check_identical(self, modules, src=0):
        """Whether every process holds ``src``'s parameters, bit for bit;
        if not, ``src``'s are broadcast. One gather (and the broadcasts on a
        mismatch): for an occasional check, e.g. once an epoch.
        """
        if not self.active:
            return True
        flat = torch.cat([
            t.detach().reshape(-1).float() for module in modules
            for t in module.state_dict().values()
        ])
        rows = self.gather(flat)
        identical = bool((rows == rows[src]).all().item())
        if not identical:
            self.broadcast_(modules, src)
        return identical

    def average_gradients(self, params, weight=1.0):
        """Replace gradients by their weighted mean over processes.

        ``g <- sum_p w_p g_p / sum_p w_p`` for every parameter, with
        ``w_p`` this process's ``weight`` (e.g. the instances its loss
        averaged over), in one all-reduce of one flat bucket.

        Args:
            params (list[Parameter]): The optimiser's parameters.
            weight (float): This process's share. Defaults to 1.0.
        """
        if not self.active:
            return
        grads = flatten_gradients(params)
        bucket = torch.cat([grads * weight, grads.new_full((1, ),
                                                           float(weight))])
        torch_dist.all_reduce(bucket, group=self.group)
        self.collectives += 1
        bucket = bucket[:-1] / bucket[-1]
        offset = 0
        for p in params:
            size = p.numel()
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.copy_(bucket[offset:offset + size].view_as(p))
            offset += size

    def broadcast_(self, modules, src=0):
        """Copy ``src``'s parameters and buffers into every process."""
        if not self.active:
            return
        for module in modules:
            for tensor in module.state_dict().values():
                torch_dist.broadcast(tensor, src=src, group=self.group)
                self.collectives += 1

    def rank(self):
        """This process's rank in the group (0 when alone)."""
        if not self.active:
            return 0
        return torch_dist.get_rank(self.group)
