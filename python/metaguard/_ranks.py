"""The cross-rank comparison: each rank's digest (state, shape, content hash of every
tensor) gathered to every rank in one collective."""
import torch.distributed as dist


def distributed_rank():
    """This process's rank when torch.distributed is initialized, else None."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return None


def gather_digests(digest):
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError("metaguard: compare_ranks=True needs torch.distributed to be initialized")
    digests = [None] * dist.get_world_size()
    dist.all_gather_object(digests, digest)
    return digests
