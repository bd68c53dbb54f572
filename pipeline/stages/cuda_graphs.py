"""A training step replayed as one CUDA graph, for the lone and the stacked engine alike."""

import torch


class CudaGraphReplay:
    """Mixin for a step class (one step on the batch `indices` pick out of resident tensors):
    the same step replayed as one CUDA graph. At batch 64 a step is ~40 tiny kernels, and
    launching them one by one from Python costs more than running them. The first steps run
    eagerly (they warm up cuBLAS and create the optimizer's state), then one full-size step is
    captured; every later full-size batch is copied into its input and replayed. Same kernels,
    same order, same arithmetic: only the launches change. The step must write its results
    into tensors it allocated before the capture (the epoch totals), in place."""

    WARMUP_STEPS = 3

    def setup_graph(self, batch_size: int, device: torch.device) -> None:
        self.batch_size = batch_size
        self.static_indices = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed_up = 0

    def recapture(self) -> None:
        """Capture the step again at the next full-size batch: a graph keeps the Python numbers
        it was captured with (torch.optim's lr), so a new lr needs a new graph."""
        self.graph = None

    def __call__(self, indices: torch.Tensor) -> None:
        if len(indices) != self.batch_size:  # a last, smaller batch runs eagerly
            super().__call__(indices)  # type: ignore[misc]  # a mixin's super()
            return
        if self.graph is None and self.warmed_up < self.WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                super().__call__(indices)  # type: ignore[misc]  # a mixin's super()
            torch.cuda.current_stream().wait_stream(side)
            self.warmed_up += 1
            return
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                super().__call__(self.static_indices)  # type: ignore[misc]  # a mixin's super()
        self.static_indices.copy_(indices)
        self.graph.replay()


def use_cuda_graphs(device: torch.device, enabled: bool) -> bool:
    return enabled and device.type == "cuda"
