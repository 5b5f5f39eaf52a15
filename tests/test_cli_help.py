"""Every command's help, walked from the commands registered in nkru.cli (never a hand list): one name per
concept, `-h`, plain placeholders, exit codes, help that matches the code, and the README's reference
generated from the same help.

Each rule is also run on a small command built here that breaks it, so that the checks can fail.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import click
import pytest
import typer
from typer.main import get_command

from nkru.cli import COMMANDS, app
from nkru.cli.common import CONTEXT_SETTINGS, DEPRECATED_UNTIL, command_class, package_argument
from nkru.cli.reference import commands, help_text
from tests.helpers import REPO, covering, run_cli

#: The one spelling of each shared concept: parameter name -> its option names.
CONCEPTS = {
    "out": {"-o", "--out"},
    "format": {"-f", "--format"},
    "threshold": {"--threshold"},
    "check": {"--check"},
    "validate": {"--validate", "--no-validate"},
}
#: Other spellings of those concepts, which no command may show.
SYNONYMS = {"--output", "--output-dir", "--outdir", "--dest", "--dist", "--data-docs", "--to", "-t", "--fmt",
            "--coverage-threshold", "--min-coverage", "--no-check", "--no-validation", "--stale", "--verify-only"}


def problems(name: str, command: click.Command) -> list[str]:
    """Every inconsistency in one command's help and parameters."""
    found: list[str] = []
    text = _help(name, command)
    usage = text.splitlines()[0]
    visible = [p for p in command.params if not getattr(p, "hidden", False)]
    arguments = [p for p in visible if p.param_type_name == "argument"]
    options = [p for p in visible if p.param_type_name == "option"]

    # -h works wherever --help does.
    if "-h" not in command.get_help_option_names(click.Context(command, **command.context_settings)):
        found.append("no -h")
    # Plain placeholders: no Python type (<str>, <list[str]>, <path>) and no {name}.
    for bad in re.findall(r"<[\w\[\], ]+>|\{\w+\}", text):
        found.append(f"Python-type placeholder {bad}")
    for option in options:
        if option.is_flag or option.count:
            continue
        metavar = option.metavar or ""
        if not metavar or metavar != metavar.upper() or not re.fullmatch(r"[A-Z][A-Z0-9_./|\[\]-]*", metavar):
            found.append(f"{option.opts[-1]}: placeholder {metavar!r} is not a plain word such as DIR or FORMAT")
    # The usage line shows exactly the visible arguments (no phantom hidden one).
    hidden = [p for p in command.params if p.param_type_name == "argument" and getattr(p, "hidden", False)]
    for argument in hidden:
        if argument.name in usage or argument.name.upper() in usage.split():
            found.append(f"hidden argument {argument.name!r} in the usage line")
    # Exit codes in the help.
    flat = " ".join(text.split())
    if not re.search(r"\bExit 0\b.*\b2\b", flat):
        found.append("the help does not give the exit codes (Exit 0 ..., 2 usage error)")
    # One name per concept.
    for option in options:
        names = set(option.opts) | set(option.secondary_opts)
        for synonym in sorted(names & SYNONYMS):
            found.append(f"{synonym}: a synonym of a shared option (see CONCEPTS)")
        if option.name in CONCEPTS and names != CONCEPTS[option.name]:
            found.append(f"{option.name} is spelt {sorted(names)}, not {sorted(CONCEPTS[option.name])}")
        for concept, spelling in CONCEPTS.items():
            if names & spelling and option.name != concept:
                found.append(f"{sorted(names & spelling)} names {option.name!r}, not the concept {concept!r}")
    for option in options:
        if "--check" in option.opts and not ("stale" in (option.help or "") and "exit 1" in (option.help or "")):
            found.append("--check must mean 'exit 1 if a generated file is stale'")
        if "--format" in option.opts and not (option.help or "").startswith("Output: "):
            found.append("--format's help must list the formats ('Output: a, b')")
    # The package: the last positional argument, PATH, default '.' (a command that takes files takes FILE...).
    if arguments and not any(a.nargs == -1 for a in arguments):
        last = arguments[-1]
        if last.name != "path" or last.metavar != "PATH" or last.required or str(last.default) != ".":
            found.append(f"the package must be the last argument, optional PATH with default '.', not {last.name!r}")
        if [a.name for a in arguments].count("path") > 1:
            found.append("more than one PATH")
    if not arguments:
        found.append("no PATH argument")
    return found


def _help(name: str, command: click.Command) -> str:
    parent = click.Context(get_command(app), info_name="nkru")
    return command.get_help(click.Context(command, parent=parent, info_name=name, **command.context_settings))


REGISTERED = commands()


def test_every_registered_command_is_walked():
    assert list(REGISTERED) == list(COMMANDS) and len(REGISTERED) >= 11


@pytest.mark.parametrize("name", list(REGISTERED))
def test_help_is_consistent(name):
    assert problems(name, REGISTERED[name]) == []


@pytest.mark.parametrize("name", covering([None, *REGISTERED], lambda name: name is None))  # nkru and one command
def test_dash_h_is_help(name):
    args = [name] if name else []
    short, long = run_cli(*args, "-h"), run_cli(*args, "--help")
    assert short.exit_code == 0 and long.exit_code == 0, short.output
    assert short.stdout == long.stdout and "Usage: nkru" in short.stdout


# -- the rules fail on commands that break them ---------------------------------------------------------------

def _build(function, renamed: dict[str, str] | None = None, plain_typer: bool = False) -> click.Command:
    """A one-command app; `plain_typer`: typer's own command class, not nkru's."""
    probe = typer.Typer(context_settings=CONTEXT_SETTINGS, add_completion=False, rich_markup_mode=None)
    cls = None if plain_typer else command_class(renamed or {})
    probe.command("probe", cls=cls, context_settings=CONTEXT_SETTINGS)(function)
    probe.command("other")(lambda: None)
    return get_command(probe).commands["probe"]


def _good(path: Annotated[Path, package_argument()] = Path("."),
          format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="Output: text, json.")] = "text",
          out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Where.")] = None) -> None:
    """A probe. Exit 0 fine, 1 not, 2 usage error."""


def _synonym(path: Annotated[Path, package_argument()] = Path("."),
             to: Annotated[str, typer.Option("--to", metavar="FORMAT", help="Output: text.")] = "text") -> None:
    """A probe. Exit 0 fine, 2 usage error."""


def _spelt_differently(path: Annotated[Path, package_argument()] = Path("."),
                       out: Annotated[Optional[Path], typer.Option("--output", metavar="DIR", help="Where.")] = None) -> None:
    """A probe. Exit 0 fine, 2 usage error."""


def _python_type(path: Annotated[Path, package_argument()] = Path("."),
                 skip: Annotated[Optional[list[str]], typer.Option("--skip", help="Layers.")] = None) -> None:
    """A probe. Exit 0 fine, 2 usage error."""


def _no_exit_codes(path: Annotated[Path, package_argument()] = Path(".")) -> None:
    """A probe that does not say how it exits."""


def _path_first(path: Annotated[Path, package_argument()] = Path("."),
                version: Annotated[str, typer.Argument(metavar="VERSION")] = "1.0.0") -> None:
    """A probe. Exit 0 fine, 2 usage error."""


def _check_means_validate(path: Annotated[Path, package_argument()] = Path("."),
                          check: Annotated[bool, typer.Option("--check", help="Validate first.")] = False) -> None:
    """A probe. Exit 0 fine, 2 usage error."""


def _hidden_argument(path: Annotated[Path, package_argument()] = Path("."),
                     extra: Annotated[Optional[list[str]], typer.Argument(hidden=True)] = None) -> None:
    """A probe. Exit 0 fine, 2 usage error."""


def test_a_consistent_probe_passes():
    assert problems("probe", _build(_good)) == []


@pytest.mark.parametrize("function, expected", [
    (_synonym, "--to: a synonym"),
    (_spelt_differently, "--output: a synonym"),
    (_no_exit_codes, "exit codes"),
    (_path_first, "the package must be the last argument"),
    (_check_means_validate, "--check must mean"),
])
def test_each_rule_catches_a_command_that_breaks_it(function, expected):
    found = problems("probe", _build(function))
    assert any(expected in problem for problem in found), found


def test_the_python_type_check_sees_typers_default_placeholders():
    command = _build(_python_type, plain_typer=True)
    assert "<list[str]>" in _help("probe", command)  # what typer prints without a metavar
    found = problems("probe", command)
    assert any("Python-type placeholder <list[str]>" in p for p in found), found
    assert any("--skip: placeholder" in p for p in found), found


def test_nkrus_command_class_names_values_plainly_where_a_command_gave_no_placeholder():
    command = _build(_python_type)
    assert "--skip SKIP" in _help("probe", command) and "<" not in _help("probe", command)
    assert problems("probe", command) == []


def test_a_hidden_argument_stays_out_of_the_usage_line():
    command = _build(_hidden_argument)
    assert _help("probe", command).splitlines()[0] == "Usage: nkru probe [OPTIONS] [PATH]"
    assert problems("probe", command) == []


# -- help that matches the code ------------------------------------------------------------------------------

def _formats_in_help(command: click.Command) -> list[str] | None:
    """The formats `--format`'s help lists: 'Output: a, b (note) or c.' -> ['a', 'b', 'c']."""
    for option in command.params:
        if "--format" in getattr(option, "opts", []):
            listed = re.sub(r"\([^)]*\)", "", option.help.removeprefix("Output: ")).split(".")[0]
            return [word.strip() for word in re.split(r",|\bor\b", listed) if word.strip()]
    return None


@pytest.mark.parametrize("name", [n for n, c in REGISTERED.items() if _formats_in_help(c) is not None])
def test_the_formats_in_the_help_are_the_ones_the_command_accepts(name, tmp_path):
    command = REGISTERED[name]
    required = [p for p in command.params if p.param_type_name == "argument" and p.required]
    args = [name, *[str(tmp_path / "x") for _ in required], "--format", "no-such-format"]
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    (accepted,) = re.findall(r"choose from ([^)]*)\)", " ".join(result.stderr.split()))
    assert [f.strip() for f in accepted.split(",")] == _formats_in_help(command)


def test_validate_baseline_help_names_the_folder_the_code_reads():
    from nkru.manifest import RELEASES

    (option,) = [p for p in REGISTERED["validate"].params if p.name == "baseline"]
    default = option.help.split("default:", 1)[1]
    assert f"{RELEASES}/" in default and "tag" not in default  # the default is a manifest, never a git tag


def test_defaults_shown_are_the_code_defaults():
    for name, command in REGISTERED.items():
        text = " ".join(_help(name, command).split())
        for param in command.params:
            if getattr(param, "hidden", False) or param.default in (None, False, True, "") or param.param_type_name != "option":
                continue
            assert f"[default: {param.default}]" in text or f"default: {param.default};" in text, (name, param.name)


# -- deprecated names ----------------------------------------------------------------------------------------

RENAMED = [(name, old, new) for name, command in REGISTERED.items()
           for old, new in getattr(command, "renamed_options", {}).items()]


def test_renamed_options_are_hidden_and_point_at_a_visible_option():
    assert RENAMED, "the renamed options of this minor version"
    for name, old, new in RENAMED:
        command = REGISTERED[name]
        shown = {o for p in command.params if not getattr(p, "hidden", False) for o in (*p.opts, *getattr(p, "secondary_opts", []))}
        assert old not in shown and old not in _help(name, command).replace("--help", ""), (name, old)
        assert new in shown, (name, new)


@pytest.mark.parametrize("name, old, new", covering(RENAMED, lambda name, old, new: name))  # each command once
def test_an_old_name_still_parses_and_says_it_is_deprecated(name, old, new, tmp_path):
    # Both spellings reach the same code: the same exit code and the same error on a package that is not there.
    missing = str(tmp_path / "no-such-package")
    command = REGISTERED[name]
    (param,) = [p for p in command.params if new in (*p.opts, *getattr(p, "secondary_opts", []))]
    value = [] if param.is_flag else ([str(tmp_path / "v")] if param.name != "format" else ["sqlite"])
    required = ["1.0.0"] if name == "release" else []
    with_old = run_cli(name, *required, missing, old, *value)
    with_new = run_cli(name, *required, missing, new, *value)
    assert with_old.exit_code == with_new.exit_code == 2, with_old.output
    line = f"nkru {name}: {old} is deprecated and stops working in nkru {DEPRECATED_UNTIL}; use {new}."
    assert line in with_old.stderr and "deprecated" not in with_new.stderr
    assert with_old.stderr.replace(line + "\n", "") == with_new.stderr


def test_deprecated_export_options_still_export(package_copy, tmp_path):
    target = tmp_path / "x.sqlite"
    result = run_cli("export", str(package_copy), "--to", "sqlite", "--no-check", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert target.is_file()
    assert "--to is deprecated" in result.stderr and "--no-check is deprecated" in result.stderr


def test_deprecated_threshold_name_still_sets_the_threshold(package_copy):
    low = run_cli("validate", str(package_copy), "--only", "coverage", "--coverage-threshold", "101")
    new = run_cli("validate", str(package_copy), "--only", "coverage", "--threshold", "101")
    assert low.exit_code == new.exit_code == 2
    assert "--coverage-threshold is deprecated" in low.stderr


def test_a_short_deprecated_option_with_its_value_attached(tmp_path):
    result = run_cli("export", str(tmp_path / "nothing"), "-tsqlite")
    assert "-t is deprecated" in result.stderr and result.exit_code == 2 and "No such option" not in result.stderr


def test_nothing_after_double_dash_is_renamed():
    from nkru.cli.common import rename_deprecated

    assert rename_deprecated(["--to", "x", "--", "--to"], {"--to": "--format"}, "nkru probe") == ["--format", "x", "--", "--to"]
    assert rename_deprecated(["--to=x"], {"--to": "--format"}, "nkru probe") == ["--format=x"]


# -- the README's reference ----------------------------------------------------------------------------------

def test_readme_reference_is_generated_from_the_help():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in REGISTERED:
        assert help_text(name) in readme, f"nkru {name}: the README's reference is stale (run: cog -r README.md)"


@pytest.mark.slow  # cog renders every command's help into the README, twice
def test_cog_check_passes_and_fails_on_a_stale_copy(tmp_path):
    from cogapp import Cog

    readme = REPO / "README.md"
    assert Cog().main(["cog", "--check", str(readme)]) == 0, "stale CLI reference: run cog -r README.md"
    stale = tmp_path / "README.md"
    stale.write_text(readme.read_text(encoding="utf-8").replace("Show this message and exit.", "Show help.", 1),
                     encoding="utf-8")
    assert Cog().main(["cog", "--check", str(stale)]) != 0
