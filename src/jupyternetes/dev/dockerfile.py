"""Build the project's own `Dockerfile` here, where there is no Docker engine and no registry: each stage's RUN steps
run in a chroot of a root filesystem, COPY takes files from the build context, and the result is packed as an OCI
image archive like the node's other images (`images.write_layout`).

Only what the project's Dockerfiles use is understood: ARG, FROM (with `AS`), ENV, WORKDIR, COPY (with `--from`),
RUN, USER, ENTRYPOINT, CMD, EXPOSE and LABEL. Anything else (ADD, ONBUILD, HEALTHCHECK, heredocs, `--mount`, ...)
fails with the line it is on, rather than being built differently from what Docker would build. A `FROM` names a base
image given to `build` as a local root filesystem; a Dockerfile's base is a build argument, so a site with a registry
builds the same file with Docker against its own base.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

SUPPORTED: Final = frozenset({"ARG", "FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "ENTRYPOINT", "CMD", "EXPOSE",
                              "LABEL"})


class DockerfileError(ValueError):
    """The Dockerfile uses something this builder does not understand, or a step failed; names the line."""


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


@dataclass
class Stage:
    """One `FROM` and what follows it."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARGs (before the first FROM) with their defaults, and the stages (pure)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, arguments = joined.partition(" ")
        keyword = keyword.upper()
        if keyword not in SUPPORTED:
            raise DockerfileError(f"line {start}: {keyword} is not supported by this builder (it understands "
                                  f"{', '.join(sorted(SUPPORTED))})")
        if "<<" in arguments and keyword == "RUN":
            raise DockerfileError(f"line {start}: heredocs are not supported by this builder")
        if arguments.startswith("--") and keyword not in ("COPY", "FROM"):
            raise DockerfileError(f"line {start}: {keyword} {arguments.split()[0]} is not supported by this builder")
        instructions.append(Instruction(start, keyword, arguments.strip()))
    if pending:
        raise DockerfileError("the Dockerfile ends in a line continuation")
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            if words and words[0].startswith("--"):
                raise DockerfileError(f"line {instruction.line}: FROM {words[0]} is not supported by this builder")
            if len(words) == 3 and words[1].upper() == "AS":
                stages.append(Stage(words[0], words[2]))
            elif len(words) == 1:
                stages.append(Stage(words[0], None))
            else:
                raise DockerfileError(f"line {instruction.line}: FROM takes an image and an optional `AS name`")
        elif not stages:
            if instruction.keyword != "ARG":
                raise DockerfileError(f"line {instruction.line}: only ARG may come before the first FROM")
            name, _, default = instruction.arguments.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError("the Dockerfile has no FROM")
    return global_args, stages


def expand(text: str, values: dict[str, str]) -> str:
    """`$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+word}` from `values`, as Docker expands them (an unknown
    or empty name expands to nothing); any other form fails rather than being built differently (pure)."""
    out = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            if text[i + 1] == "{":
                end = text.find("}", i)
                if end < 0:
                    raise DockerfileError(f"{text!r}: '${{' without a closing '}}'")
                out.append(_substitute(text[i + 2:end], values, text))
                i = end + 1
                continue
            j = i + 1
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j > i + 1:
                out.append(values.get(text[i + 1:j], ""))
                i = j
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _substitute(inner: str, values: dict[str, str], text: str) -> str:
    name, modifier, word = inner, "", ""
    for candidate in (":-", ":+"):
        if candidate in inner:
            name, _, word = inner.partition(candidate)
            modifier = candidate
            break
    if not name.replace("_", "a").isalnum() or not (name[0].isalpha() or name[0] == "_"):
        raise DockerfileError(f"{text!r}: this builder understands ${{NAME}}, ${{NAME:-default}} and "
                              f"${{NAME:+word}}, not ${{{inner}}}")
    value = values.get(name, "")
    if modifier == ":-":
        return value or word
    if modifier == ":+":
        return word if value else ""
    return value


def env_pairs(arguments: str) -> dict[str, str]:
    """`ENV A=1 B="two words"` (pure); the legacy `ENV A value` form too."""
    words = shlex.split(arguments)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    pairs = {}
    for word in words:
        if "=" not in word:
            raise DockerfileError(f"ENV {arguments!r}: expected NAME=value pairs")
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs


def ignored(context: Path, patterns: list[str], path: Path) -> bool:
    relative = str(path.relative_to(context))
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(relative, p.removeprefix("**/"))
               or relative.startswith(p.rstrip("/") + "/") for p in patterns)


def _copy(source: Path, target: Path, context: Path | None, patterns: list[str]) -> None:
    if source.is_symlink() or not (source.is_dir() or source.is_file()):
        # Links are copied as links; device nodes, sockets and pipes are never read.
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            target.symlink_to(os.readlink(source))
        return
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for child in sorted(source.iterdir()):
            if context is not None and ignored(context, patterns, child):
                continue
            _copy(child, target / child.name, context, patterns)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


@dataclass
class Built:
    rootfs: Path
    config: dict[str, Any]


def build(dockerfile: Path, context: Path, bases: dict[str, tuple[Path, dict[str, Any]]], work: Path,
          build_args: dict[str, str], run_env: dict[str, str] | None = None) -> Built:
    """Build `dockerfile` with `context`; `bases` maps each FROM reference (after build arguments) to an extracted
    root filesystem and its image configuration. Returns the final stage's root filesystem and configuration."""
    global_args, stages = parse(dockerfile.read_text())
    args = {**global_args, **build_args}
    patterns = []
    ignore_file = context / ".dockerignore"
    if ignore_file.exists():
        patterns = [line.strip() for line in ignore_file.read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    built: dict[str, Path] = {}
    result: Built | None = None
    for index, stage in enumerate(stages):
        reference = expand(stage.base, args)
        if reference not in bases:
            raise DockerfileError(f"FROM {stage.base}: no local base image {reference!r}; pass it with "
                                  f"--build-arg (known: {', '.join(sorted(bases))})")
        base_rootfs, base_config = bases[reference]
        rootfs = work / f"stage-{index}"
        # cp -a, not copytree: a root filesystem holds device nodes (/dev/console, /dev/zero), which must be made
        # again as nodes, never read.
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        copied = subprocess.run(["cp", "-a", str(base_rootfs), str(rootfs)], capture_output=True, text=True,
                                check=False)
        if copied.returncode != 0:
            raise DockerfileError(f"FROM {stage.base}: copying the base failed: {copied.stderr.strip()}")
        config: dict[str, Any] = json.loads(json.dumps(base_config))
        env = dict(item.split("=", 1) for item in config.get("Env", []))
        stage_args = dict(args)
        workdir = config.get("WorkingDir") or "/"
        for instruction in stage.instructions:
            values = {**stage_args, **env}
            arguments = instruction.arguments
            where = f"line {instruction.line} ({instruction.keyword})"
            if instruction.keyword == "ARG":
                name, _, default = arguments.partition("=")
                stage_args[name] = args.get(name, default)
            elif instruction.keyword == "ENV":
                env.update({k: expand(v, values) for k, v in env_pairs(arguments).items()})
            elif instruction.keyword == "WORKDIR":
                workdir = os.path.join(workdir, expand(arguments, values))
                (rootfs / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
            elif instruction.keyword == "USER":
                config["User"] = expand(arguments, values)
            elif instruction.keyword in ("ENTRYPOINT", "CMD"):
                try:
                    value = json.loads(arguments)
                except ValueError as error:
                    raise DockerfileError(f"{where}: only the JSON (exec) form is supported") from error
                config["Entrypoint" if instruction.keyword == "ENTRYPOINT" else "Cmd"] = value
            elif instruction.keyword == "EXPOSE":
                config.setdefault("ExposedPorts", {}).update({f"{p}/tcp" if "/" not in p else p: {}
                                                              for p in arguments.split()})
            elif instruction.keyword == "LABEL":
                config.setdefault("Labels", {}).update(env_pairs(arguments))
            elif instruction.keyword == "COPY":
                words = shlex.split(arguments)
                source_root, source_context = context, context
                if words[0].startswith("--from="):
                    stage_name = words.pop(0).removeprefix("--from=")
                    if stage_name not in built:
                        raise DockerfileError(f"{where}: no earlier stage named {stage_name!r}")
                    source_root, source_context = built[stage_name], None
                elif words[0].startswith("--"):
                    raise DockerfileError(f"{where}: COPY {words[0]} is not supported by this builder")
                *sources, dest = [expand(w, values) for w in words]
                target = Path(rootfs, os.path.join(workdir, dest).lstrip("/"))
                for source in sources:
                    path = (source_root / source.lstrip("/")).resolve()
                    if source_context is not None and not path.is_relative_to(source_context.resolve()):
                        raise DockerfileError(f"{where}: {source} is outside the build context")
                    if not path.exists():
                        raise DockerfileError(f"{where}: {source} does not exist")
                    into = target / path.name if (dest.endswith("/") or len(sources) > 1) and path.is_file() \
                        else target
                    _copy(path, into, source_context, patterns if source_context else [])
            elif instruction.keyword == "RUN":
                # As Docker does: the shell expands variables; build arguments and ENV are its environment.
                argv = json.loads(arguments) if arguments.startswith("[") else ["/bin/sh", "-c", arguments]
                environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               "HOME": "/root", **(run_env or {}), **stage_args, **env}
                done = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c",
                                       f"cd {shlex.quote(workdir)} && exec " + shlex.join(argv)],
                                      capture_output=True, text=True, env=environment, timeout=1800, check=False)
                if done.returncode != 0:
                    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
                    raise DockerfileError(f"{where} failed (exit {done.returncode}):\n{tail}")
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
        config["WorkingDir"] = workdir
        built[stage.name or str(index)] = rootfs
        built[str(index)] = rootfs
        result = Built(rootfs, config)
    assert result is not None
    return result
