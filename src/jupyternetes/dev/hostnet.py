"""The host state a real node changes, recorded before it starts and put back when it stops.

A real node adds an address to `lo`, a bridge and veth pairs, iptables chains and rules (its own guard, kube-router's
firewall), ipsets, perhaps nftables tables, and turns on forwarding sysctls. `Snapshot.take()` records all of it;
`restore(snapshot)` removes whatever is new and puts every recorded sysctl back, so that a node's teardown leaves the
machine as it found it, whichever component made the change. The snapshot is also written to disk before anything
changes, so a run that was killed is cleaned up by the next one.

The guard (`install_guard`), first in `mangle` FORWARD and `raw` PREROUTING, where no filter rule (kube-router's
included) can overrule it:
- traffic forwarded from the pod bridge to any other interface, or onto the bridge from any other interface, is
  dropped: pods reach each other and the node's own addresses, and nothing else;
- if this machine did not forward before the node started, nothing else is forwarded either (the CNI bridge turns
  forwarding on for the whole machine);
- the node's address and the pod network accept packets only from loopback and the bridge, not from a neighbour
  that routes to them through another interface;
- no IPv6 at all on the bridge: kube-router here enforces NetworkPolicy for IPv4 only, so IPv6 (link-local included)
  would pass around every policy.

Sysctls: every writable value under kernel/, vm/ and net/ is recorded and put back, since the kubelet adjusts kernel
settings (panic on oops, overcommit, key quotas) and forwarding changes per-interface values.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

TABLES: Final = ("filter", "nat", "mangle", "raw")
FAMILIES: Final = {"iptables": "ip", "ip6tables": "ip6"}
#: Where the sysctls a node may change live (recorded whole: the kubelet, the CNI bridge and kube-router all write).
SYSCTL_TREES: Final = ("kernel", "vm", "net")
#: Values the kernel changes by itself, or that say nothing about configuration.
VOLATILE_SYSCTLS: Final = ("kernel/random/", "kernel/ns_last_pid", "kernel/hostname", "kernel/domainname",
                           "net/netfilter/nf_conntrack_count", "vm/drop_caches", "vm/compact_memory")
GUARD_CHAIN: Final = "JUPYTERNETES-GUARD"
GUARD_IN_CHAIN: Final = "JUPYTERNETES-GUARD-IN"


class HostError(RuntimeError):
    """A host change failed; the message has the command and its output."""


def run(command: list[str], check: bool = True) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise HostError(f"`{shlex.join(command)}` failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def _sysctls() -> dict[str, str]:
    """Every writable, non-volatile sysctl under SYSCTL_TREES (about 1,200 values, read in 0.15 s)."""
    found: dict[str, str] = {}
    root = Path("/proc/sys")
    for tree in SYSCTL_TREES:
        # An interface may go while this walks (a pod's veth, as its network namespace is torn down): os.walk skips
        # a directory that vanished, where Path.rglob raised.
        paths = (Path(directory) / file for directory, _, files in os.walk(root / tree) for file in files)
        for path in paths:
            name = str(path.relative_to(root))
            if name.startswith(VOLATILE_SYSCTLS):
                continue
            try:
                if path.is_file() and path.stat().st_mode & 0o200:
                    found[name] = path.read_text().strip()
            except OSError:
                continue
    return found


@dataclass
class Snapshot:
    """What the host looked like before a node started."""

    rules: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # command -> table -> `-S` lines
    ipsets: list[str] = field(default_factory=list)
    nft_tables: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    lo_addresses: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    paths: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def take(cls, watched_paths: tuple[str, ...] = ()) -> Snapshot:
        return cls(rules=_rules(), ipsets=_ipsets(), nft_tables=_nft_tables(), links=_links(),
                   lo_addresses=_lo_addresses(), sysctls=_sysctls(),
                   paths={path: Path(path).exists() for path in watched_paths})

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        return cls(**json.loads(path.read_text()))

    def differences(self, now: Snapshot) -> list[str]:
        """Every way `now` differs from this snapshot, in words (empty when the host is as it was)."""
        found = []
        for command, tables in now.rules.items():
            for table, lines in tables.items():
                before = set(self.rules.get(command, {}).get(table, []))
                found += [f"{command} -t {table}: {line}" for line in lines if line not in before]
                found += [f"{command} -t {table}: missing {line}" for line in before - set(lines)]
        found += [f"ipset {name}" for name in now.ipsets if name not in self.ipsets]
        found += [f"nft table {name}" for name in now.nft_tables if name not in self.nft_tables]
        found += [f"link {name}" for name in now.links if name not in self.links]
        found += [f"address {a} on lo" for a in now.lo_addresses if a not in self.lo_addresses]
        # A value whose interface has gone since is not a change.
        found += [f"sysctl {k}={now.sysctls.get(k)} (was {v})" for k, v in self.sysctls.items()
                  if k in now.sysctls and now.sysctls[k] != v]
        found += [f"path {p} exists" for p, existed in self.paths.items() if not existed and Path(p).exists()]
        return found


def _rules() -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    for command in FAMILIES:
        found[command] = {}
        for table in TABLES:
            done = subprocess.run([command, "-w", "-t", table, "-S"], capture_output=True, text=True, timeout=60,
                                  check=False)
            if done.returncode == 0:
                found[command][table] = [line for line in done.stdout.splitlines() if line]
            elif "does not exist" not in done.stderr and "can't initialize" not in done.stderr:
                # A table that cannot be listed is never taken for an empty one: the snapshot says so, and then
                # differs from any snapshot that could list it.
                found[command][table] = [f"! {command} could not list it: {done.stderr.strip()}"]
    return found


def _ipsets() -> list[str]:
    done = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        return [f"! ipset could not list: {done.stderr.strip()}"]
    return done.stdout.split()


def _nft_tables() -> list[str]:
    done = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=60, check=False)
    # "table ip filter" -> "ip filter"
    return [line.removeprefix("table ").strip() for line in done.stdout.splitlines() if line.startswith("table ")]


def _links() -> list[str]:
    out = run(["ip", "-o", "link", "show"])
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def _lo_addresses() -> list[str]:
    out = run(["ip", "-o", "-4", "addr", "show", "dev", "lo"])
    return [line.split()[3] for line in out.splitlines()]


def restore(snapshot: Snapshot) -> list[str]:
    """Undo every change since `snapshot`; returns what could not be undone (empty when the host is clean).

    The order keeps the guard until last: first the bridge and the node's address go and forwarding is switched
    back off, so no packet can leave through the bridge while the guard's rules are being removed."""
    now = Snapshot.take(tuple(snapshot.paths))
    for name in now.links:
        if name not in snapshot.links:
            run(["ip", "link", "delete", name], check=False)
    for address in now.lo_addresses:
        if address not in snapshot.lo_addresses:
            run(["ip", "addr", "del", address, "dev", "lo"], check=False)
    # ip_forward first: switching it resets other per-interface values, which are then put back after it.
    for name in sorted(snapshot.sysctls, key=lambda n: n != "net/ipv4/ip_forward"):
        path = _sysctl_path(name)
        with contextlib.suppress(OSError):
            if path.exists() and path.read_text().strip() != snapshot.sysctls[name]:
                path.write_text(snapshot.sysctls[name] + "\n")
    for command, tables in now.rules.items():
        for table, lines in tables.items():
            _restore_table(command, table, snapshot.rules.get(command, {}).get(table, []), lines)
    for name in now.ipsets:
        if name not in snapshot.ipsets:
            run(["ipset", "destroy", name], check=False)
    for name in now.nft_tables:
        if name not in snapshot.nft_tables:
            run(["nft", "delete", "table", *name.split()], check=False)
    for path, existed in snapshot.paths.items():
        # Paths that did not exist before the node started hold only what its runtime wrote there (shim sockets,
        # the CNI library's result cache, the kubelet's device-plugin socket, log links): remove them whole.
        if not existed and Path(path).exists() and not Path(path).is_symlink():
            shutil.rmtree(path, ignore_errors=True)
    return snapshot.differences(Snapshot.take(tuple(snapshot.paths)))


def _restore_table(command: str, table: str, before: list[str], now: list[str]) -> None:
    old = set(before)
    old_chains = {line.split()[1] for line in before if line.startswith(("-N ", "-P "))}
    new_chains = [line.split()[1] for line in now if line.startswith("-N ") and line not in old]
    # Rules added to chains that were there before: delete them one by one.
    for line in now:
        if line.startswith("-A ") and line not in old and line.split()[1] in old_chains:
            run([command, "-w", "-t", table, "-D", *shlex.split(line)[1:]], check=False)
    # Chains that are new: empty them all first (they may jump to one another), then delete them.
    for chain in new_chains:
        run([command, "-w", "-t", table, "-F", chain], check=False)
    for chain in new_chains:
        run([command, "-w", "-t", table, "-X", chain], check=False)
    # Rules removed from chains that were there before are not put back: nothing here removes any.


def install_guard(bridge: str, local_networks: list[str], forwarding_was_on: bool) -> None:
    """Keep the pod bridge's traffic on this machine (see the module's docstring); `local_networks` are the node's
    address and the pod network, which only loopback and the bridge may reach."""
    def comment(text: str) -> list[str]:
        return ["-m", "comment", "--comment", f"jupyternetes: {text}"]

    for command in FAMILIES:
        rules = [
            ["-i", bridge, "!", "-o", bridge, *comment("pods reach only the node and the pod network"), "-j", "DROP"],
            ["!", "-i", bridge, "-o", bridge, *comment("nothing is forwarded to pods from elsewhere"), "-j", "DROP"],
        ]
        if not forwarding_was_on:
            rules.append(["!", "-i", bridge, *comment("this machine did not forward before the node"), "-j", "DROP"])
        if command == "ip6tables":
            rules = [["-i", bridge, *comment("no IPv6 between pods"), "-j", "DROP"], *rules]
        run([command, "-w", "-t", "mangle", "-N", GUARD_CHAIN])
        for rule in rules:
            run([command, "-w", "-t", "mangle", "-A", GUARD_CHAIN, *rule])
        run([command, "-w", "-t", "mangle", "-I", "FORWARD", "1", "-j", GUARD_CHAIN])
        # Before routing: the node's address and the pod network only from loopback and the bridge; no IPv6 from
        # the bridge at all.
        run([command, "-w", "-t", "raw", "-N", GUARD_IN_CHAIN])
        if command == "ip6tables":
            run([command, "-w", "-t", "raw", "-A", GUARD_IN_CHAIN, "-i", bridge, *comment("no IPv6 from pods"),
                 "-j", "DROP"])
        else:
            run([command, "-w", "-t", "raw", "-A", GUARD_IN_CHAIN, "-i", "lo", "-j", "RETURN"])
            run([command, "-w", "-t", "raw", "-A", GUARD_IN_CHAIN, "-i", bridge, "-j", "RETURN"])
            for network in local_networks:
                run([command, "-w", "-t", "raw", "-A", GUARD_IN_CHAIN, "-d", network,
                     *comment("the node and its pods are not reachable from other interfaces"), "-j", "DROP"])
        run([command, "-w", "-t", "raw", "-I", "PREROUTING", "1", "-j", GUARD_IN_CHAIN])


def guard_installed() -> bool:
    """Whether the guard is first in mangle FORWARD and raw PREROUTING for both families (nothing comes before)."""
    for command in FAMILIES:
        for table, chain, guard in (("mangle", "FORWARD", GUARD_CHAIN), ("raw", "PREROUTING", GUARD_IN_CHAIN)):
            lines = run([command, "-w", "-t", table, "-S", chain]).splitlines()
            rules = [line for line in lines if line.startswith(f"-A {chain}")]
            if not rules or rules[0] != f"-A {chain} -j {guard}":
                return False
    return True
