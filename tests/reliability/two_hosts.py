"""Two test hosts on one machine: network namespaces, joined either by a veth pair (the kernel's
own link) or by a user-space router between two TUN devices that delays and drops packets (the
kernel here has no netem qdisc). Used by multi_host.py; needs root and iproute2.

Every name and address is derived from this process's id, lives only inside the namespaces
created here, and is removed on close() even when the test failed."""
import ctypes
import fcntl
import heapq
import os
import random
import re
import select
import shutil
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def remove_abandoned():
    """Deletes the namespaces of earlier runs whose process is gone (one killed outright, with no
    chance to clean up), so they never pile up."""
    listed = ip("netns", "list", check=False).stdout.split()
    for name in listed:
        match = re.fullmatch(r"mg(\d+)[ab]", name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            ip("netns", "del", name, check=False)


def why_not_available():
    """None when namespaces can be made here, else the reason (the test is then skipped)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    probe = f"mgprobe{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    remove_abandoned()
    return None


class TwoHosts:
    """Host A (10.231.N.1) and host B (10.231.N.2), N from the process id.

    link="veth": a veth pair; cut() sets host B's end down.
    link="router": TUN devices in both hosts and a forwarding process that adds `delay_ms` each
    way and drops each packet with probability `loss` (seeded)."""

    def __init__(self, link="veth", delay_ms=0.0, loss=0.0, seed=1):
        tag = os.getpid()  # the namespaces carry it: remove_abandoned() knows whose they are
        self.namespaces = (f"mg{tag}a", f"mg{tag}b")
        self.devices = (f"mg{tag}a0", f"mg{tag}b0")
        subnet = 10 + tag % 240
        self.addresses = (f"10.231.{subnet}.1", f"10.231.{subnet}.2")
        self.link = link
        self.router = None
        try:
            for namespace in self.namespaces:
                ip("netns", "add", namespace)
                ip("-n", namespace, "link", "set", "lo", "up")
            if link == "veth":
                ip("link", "add", self.devices[0], "type", "veth", "peer", "name", self.devices[1])
                for namespace, device in zip(self.namespaces, self.devices):
                    ip("link", "set", device, "netns", namespace)
            else:
                self.router = subprocess.Popen(
                    [sys.executable, __file__, "route", *self.namespaces, *self.devices, str(delay_ms), str(loss),
                     str(seed)], stdout=subprocess.PIPE, text=True)
                ready = self.router.stdout.readline().strip()
                if ready != "ready":
                    raise RuntimeError(f"the delaying router did not start ({ready!r})")
            for namespace, device, address in zip(self.namespaces, self.devices, self.addresses):
                ip("-n", namespace, "addr", "add", f"{address}/24", "dev", device)
                ip("-n", namespace, "link", "set", device, "up")
        except BaseException:
            self.close()
            raise

    def cut(self):
        """Host B's link goes down, as a pulled cable would."""
        ip("-n", self.namespaces[1], "link", "set", self.devices[1], "down")

    def command(self, host, argv):
        """argv run inside host 0 (A) or 1 (B)."""
        return ["ip", "netns", "exec", self.namespaces[host], *argv]

    def close(self):
        if self.router is not None and self.router.poll() is None:
            self.router.kill()
            self.router.wait()
        for namespace in self.namespaces:
            ip("netns", "del", namespace, check=False)  # takes its devices with it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_tun(namespace, device):
    """A TUN device named `device` inside `namespace` (the fd keeps it alive)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/var/run/netns/{namespace}") as handle:
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def route(namespaces, devices, delay_ms, loss, seed):
    """Forwards IP packets between the two TUN devices: each one held `delay_ms`, or dropped
    with probability `loss`. A constant delay keeps each direction's order."""
    fds = [open_tun(namespace, device) for namespace, device in zip(namespaces, devices)]
    other = {fds[0]: fds[1], fds[1]: fds[0]}
    rng = random.Random(seed)
    pending = []  # (due, sequence, fd to write, packet)
    sequence = 0
    print("ready", flush=True)
    while True:
        wait = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        readable, _, _ = select.select(fds, [], [], wait)
        now = time.monotonic()
        for fd in readable:
            packet = os.read(fd, 65536)
            if loss and rng.random() < loss:
                continue
            sequence += 1
            heapq.heappush(pending, (now + delay_ms / 1000.0, sequence, other[fd], packet))
        while pending and pending[0][0] <= time.monotonic():
            _, _, fd, packet = heapq.heappop(pending)
            try:
                os.write(fd, packet)
            except OSError:
                pass  # the far device is down: the packet is lost, as on a wire


if __name__ == "__main__" and len(sys.argv) == 9 and sys.argv[1] == "route":
    route(sys.argv[2:4], sys.argv[4:6], float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]))
