"""The Dockerfile builder's reading of a Dockerfile (pure): what it understands, and the line it names for what it
does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyternetes.dev import dockerfile

REPOSITORY = Path(__file__).resolve().parents[2]


class TestParsing:
    def test_the_projects_dockerfile_is_two_stages_on_a_base_given_as_a_build_argument(self) -> None:
        global_args, stages = dockerfile.parse((REPOSITORY / "Dockerfile").read_text())
        assert list(global_args) == ["PYTHON_IMAGE"]
        assert [(stage.base, stage.name) for stage in stages] == [("${PYTHON_IMAGE}", "build"),
                                                                   ("${PYTHON_IMAGE}", None)]
        assert [i.keyword for i in stages[1].instructions] == ["COPY", "ENV", "USER", "WORKDIR", "ENTRYPOINT", "CMD"]

    def test_continuation_lines_and_comments_inside_them_make_one_instruction(self) -> None:
        _, (stage,) = dockerfile.parse("FROM base\nRUN a \\\n # a comment\n && b\n")
        assert stage.instructions[0].arguments == "a && b"
        assert stage.instructions[0].line == 2

    @pytest.mark.parametrize(("text", "message"), [
        ("FROM base\nADD https://example.org/x /x\n", "line 2: ADD is not supported by this builder"),
        ("FROM base\nRUN <<EOF\necho\nEOF\n", "line 2: heredocs are not supported"),
        ("FROM base\nRUN --mount=type=cache,target=/x true\n", "line 2: RUN --mount=type=cache,target=/x is not"),
        ("FROM --platform=linux/arm64 base\n", "line 1: FROM --platform=linux/arm64 is not supported"),
        ("RUN true\nFROM base\n", "line 1: only ARG may come before the first FROM"),
        ("ARG X=1\n", "the Dockerfile has no FROM"),
        ("FROM base\nRUN a \\\n", "ends in a line continuation"),
        ("FROM base\nHEALTHCHECK CMD true\n", "line 2: HEALTHCHECK is not supported"),
    ], ids=["add", "heredoc", "mount", "platform", "run-first", "no-from", "continuation", "healthcheck"])
    def test_what_it_does_not_understand_fails_with_the_line(self, text: str, message: str) -> None:
        with pytest.raises(dockerfile.DockerfileError, match=message.replace("(", r"\(")):
            dockerfile.parse(text)


class TestExpansion:
    def test_both_forms_and_unknown_names(self) -> None:
        assert dockerfile.expand("$A/${B}:$C-x", {"A": "1", "B": "2"}) == "1/2:-x"

    @pytest.mark.parametrize(("text", "values", "expected"), [
        ("${USER:-jovyan}", {}, "jovyan"),
        ("${USER:-jovyan}", {"USER": ""}, "jovyan"),
        ("${USER:-jovyan}", {"USER": "root"}, "root"),
        ("x${DEBUG:+-debug}", {"DEBUG": "1"}, "x-debug"),
        ("x${DEBUG:+-debug}", {}, "x"),
    ])
    def test_defaults_and_alternatives_as_docker_expands_them(self, text: str, values: dict[str, str],
                                                             expected: str) -> None:
        assert dockerfile.expand(text, values) == expected

    @pytest.mark.parametrize("text", ["${A:?required}", "${A%suffix}", "${A", "${}", "${1A}"])
    def test_other_forms_fail_and_say_what_is_understood(self, text: str) -> None:
        with pytest.raises(dockerfile.DockerfileError, match=r"\$\{NAME|without a closing"):
            dockerfile.expand(text, {"A": "1"})

    def test_env_pairs_in_both_forms(self) -> None:
        assert dockerfile.env_pairs('PATH=/opt/bin:$PATH X="two words"') == {"PATH": "/opt/bin:$PATH",
                                                                              "X": "two words"}
        assert dockerfile.env_pairs("LEGACY some value") == {"LEGACY": "some value"}

    def test_dockerignore_patterns(self, tmp_path: Path) -> None:
        for path in ("src/pkg/__pycache__/x.pyc", "tests/t.py", "src/pkg/m.py"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text("")
        patterns = ["**/__pycache__", "tests"]
        assert dockerfile.ignored(tmp_path, patterns, tmp_path / "src/pkg/__pycache__")
        assert dockerfile.ignored(tmp_path, patterns, tmp_path / "tests")
        assert not dockerfile.ignored(tmp_path, patterns, tmp_path / "src/pkg/m.py")
