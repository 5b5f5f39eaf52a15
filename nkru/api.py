"""The public functions of the nkru toolkit. The CLI only calls these."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

from nkru import layers as layer_registry
from nkru.findings import Finding, LayerResult, Report, define, finding_budget, fold
from nkru.limits import MAX_FINDINGS_PER_CHECK
from nkru.options import Options
from nkru.package import Package, PackageError

define("layer-error", "api", "the {layer} layer stopped with {kind}: {detail}; the package is likely malformed where an "
       "earlier finding says", description="A layer crashed; its other checks did not run.")

define("release-zip-refused", "package", "{detail}",
       description="A release zip cannot be opened safely: damaged, encrypted, too large, a zip bomb, unsafe member "
                   "names or links (limits: docs/releasing.md).")


def _is_zip(path: str | Path) -> bool:
    import zipfile

    candidate = Path(path)
    return candidate.is_file() and (candidate.suffix.lower() == ".zip" or zipfile.is_zipfile(candidate))


__all__ = ["Options", "PackageError", "validate_package", "open_package", "coverage", "package_roots"]


def check_options(options: Options, layers: list[str], root: Path) -> None:
    """Refuse `options` that cannot work, before any layer runs: raises ValueError (a usage error).

    `layers` are the layers that will run; `root` is the package root (git refs are looked up there).
    """
    if options.coverage_threshold is not None:
        from nkru.coverage import ThresholdError, check_threshold

        try:
            check_threshold(options.coverage_threshold)
        except ThresholdError as exc:
            raise ValueError(f"coverage threshold: {exc}") from None
    if options.baseline is not None:
        from nkru.snapshot import check_spec

        check_spec(options.baseline, root=root)
    if options.texts is not None and not Path(options.texts).is_dir():
        raise ValueError(f"--texts {options.texts}: no such folder (give the folder holding the article texts, "
                         "for example data/sources of a clone of the repository)")
    if options.data_docs is not None:
        if "expectations" not in layers:
            raise ValueError("the Data Docs site (--out) needs the expectations layer (it is skipped or not in --only)")
        from nkru.layers.expectations import prepare_data_docs

        prepare_data_docs(options.data_docs)


def open_package(path: str | Path = ".", *, allow_remote: bool = False) -> Package:
    """Open the package at `path`; raises PackageError when there is none."""
    return Package.open(path, allow_remote=allow_remote)


def select_layers(only: list[str] | None = None, skip: list[str] | None = None) -> list[str]:
    """The layers to run, in run order; raises ValueError on an unknown name."""
    known = layer_registry.names()
    for name in [*(only or []), *(skip or [])]:
        if name not in known:
            raise ValueError(f"unknown layer {name!r} (known: {', '.join(known)})")
    chosen = [n for n in known if not only or n in only]
    return [n for n in chosen if n not in (skip or [])]


def validate_package(
    path: str | Path = ".",
    *,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    fail_fast: bool = False,
    options: Options | None = None,
) -> Report:
    """Validate the package at `path` with the selected layers and return one report.

    Raises PackageError if there is no readable datapackage.json and ValueError for an unknown layer.
    """
    options = options or Options()
    names = select_layers(only, skip)
    try:
        package = open_package(path, allow_remote=options.allow_remote)
    except PackageError as exc:
        if not _is_zip(path):
            raise
        # A zip that is refused (a bomb, encrypted, unsafe names) or damaged is a finding, not a crash.
        return Report(package=str(path), layers=[LayerResult("package", [Finding.make("release-zip-refused", path=str(path),
                                                                                         detail=str(exc))])])
    check_options(options, names, package.root)
    report = Report(package=package.origin or str(package.root))
    if options.texts is not None:
        attach_texts(package, Path(options.texts))
    with _collector_paused(), finding_budget(MAX_FINDINGS_PER_CHECK) as budget:
        _run_layers(package, names, options, report, fail_fast)
        report.layers[:] = [budget.settle(result) for result in report.layers]
        if budget.over and report.layers:  # a check reported by another layer than its own: still counted
            budget.settle(report.layers[-1], any_layer=True)
    fold(report.layers)  # one finding per mistake, however many layers found it
    return report


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while the layers run, back as it was after.

    With great-expectations loaded the heap holds some 300,000 objects, and every collection of
    the oldest generation walks them all: on the real package that was 0.2 s of a 1.3 s run. The
    layers' data lives in polars and Arrow buffers, not in Python objects, so little cyclic garbage
    builds up meanwhile; it is collected as usual afterwards."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_layers(package: Package, names: list[str], options: Options, report: Report, fail_fast: bool) -> None:
    for position, name in enumerate(names):
        started = time.perf_counter()
        module = _guarded(name, lambda: layer_registry.load(name))
        if isinstance(module, LayerResult):  # the layer's module cannot be imported
            result = module
        else:
            result = _guarded(name, lambda: module.check(package, options))
        result.seconds = time.perf_counter() - started
        report.layers.append(result)
        _release_columns(package, names[position + 1:])
        if fail_fast and result.errors:
            break


def _guarded(name: str, step):
    """`step()`, or a LayerResult holding the layer-error finding when it raises: one layer's crash
    (e.g. on a malformed descriptor) must not hide the others' findings."""
    try:
        return step()
    except Exception as exc:  # noqa: BLE001
        crash = Finding.make("layer-error", layer=name, kind=type(exc).__name__, detail=str(exc)[:300])
        return LayerResult(name, [dataclasses.replace(crash, layer=name)])


def _release_columns(package: Package, later: list[str]) -> None:
    """Release the table columns no later layer reads (a million claims' free-text notes are read by
    the structure and rules layers only): each later layer's `columns_read` says what it needs; a
    later layer without one may read anything, and then nothing is released."""
    if not later:
        return  # the run is over: nothing to make room for
    keep: dict[str, set[str]] = {}
    for name in later:
        declared = getattr(layer_registry.load(name), "columns_read", None)
        if declared is None:
            return
        try:
            wanted = declared(package)
        except Exception:  # noqa: BLE001 -- a malformed package: keep everything; the layer itself reports it
            return
        for resource, labels in wanted.items():
            keep.setdefault(resource, set()).update(labels)
    package.release_columns(keep)


def package_roots(files: list[str | Path]) -> list[Path]:
    """The packages that hold `files`: for each file, the nearest folder at or above it with a datapackage.json.

    In order of first mention, each once; files in no package are ignored (a pre-commit hook gets every
    changed file of the repository).
    """
    roots: dict[Path, None] = {}
    for name in files:
        here = Path(name).absolute()
        for folder in [here] if here.is_dir() else []:
            if (folder / "datapackage.json").is_file():
                roots.setdefault(folder, None)
                break
        else:
            for folder in here.parents:
                if (folder / "datapackage.json").is_file():
                    roots.setdefault(folder, None)
                    break
    return list(roots)


def attach_texts(package: Package, folder: Path) -> dict[str, Path]:
    """Use the files in `folder` whose SHA-256 matches a source's `text_sha256` as that source's text
    (for an open release, which leaves the texts out). Returns text_path -> file for the matches.

    Files are matched by content, not by name; a file over 64 MiB is never a source text and is skipped.
    """
    import hashlib

    table = package.table("sources") if "sources" in package.resources else None
    wanted = dict(zip(table.column("text_sha256"), table.column("text_path"))) if table is not None else {}
    matched: dict[str, Path] = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink()):
        try:
            if file.stat().st_size > 64 << 20:
                continue
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
        except OSError:
            continue
        if digest in wanted and wanted[digest]:
            matched[wanted[digest]] = file
    package.text_files.update(matched)
    return matched


def coverage(path: str | Path = ".", *, threshold: float | None = None):
    """Sentence coverage of every source text (a `nkru.coverage.CoverageReport`)."""
    from nkru.coverage import coverage_report

    return coverage_report(open_package(path), threshold=threshold)


def load(path: str | Path = ".", engine: str = "pandas", *, resources: list[str] | None = None,
         validate: bool | list[str] = False):
    """Load the package at `path` as DataFrames typed from its Table Schemas (`nkru.loader`).

    engine: "pandas" (default) or "polars".
    resources: load only these resources (default: every table).
    validate: False (default, fast) only parses types; True runs all `nkru validate` layers
        first, a list runs those layers (e.g. ["structure"]); an invalid package raises PackageInvalid.

    Raises LoadError (a ValueError) naming file, line, field and value for a cell that does
    not parse, PackageError when there is no datapackage.json at `path`.
    """
    from nkru import loader

    if engine not in loader.CONVERTERS:
        raise ValueError(f"unknown engine {engine!r} (choose from {', '.join(loader.CONVERTERS)})")
    if validate:
        report = validate_package(path, only=None if validate is True else list(validate))
        if not report.valid:
            raise loader.PackageInvalid(report)
    return loader.load(path, engine, resources=resources)
