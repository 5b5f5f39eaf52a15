"""JUnit XML output (`--format junit`) for CI test reporters, built with junitparser.

One <testsuite> per layer. In it, per resource: one passing <testcase> when the
layer found nothing there, otherwise one <testcase> per finding code, whose
<failure> lists every finding of that code (warnings-only codes pass and list
their findings in <system-out>). A layer that was skipped is one skipped case.
The resources come from the findings and, where it can be read, the package's
descriptor, so a valid run still has a case per layer and resource.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from nkru.findings import Finding, Report, sort_findings

PACKAGE = "(package)"  # the "resource" of findings about the package as a whole
# Characters XML 1.0 cannot carry, even escaped.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _resources(report: Report) -> list[str]:
    """The package's resource names (best effort, from its descriptor) plus any named in findings."""
    names: list[str] = []
    try:
        from nkru import safejson
        from nkru.fsutil import read_regular

        descriptor = safejson.loads(read_regular(Path(report.package) / "datapackage.json").decode("utf-8"))
        names = [r["name"] for r in descriptor.get("resources", []) if isinstance(r, dict) and isinstance(r.get("name"), str)]
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    for finding in report.findings:
        if finding.resource and finding.resource not in names:
            names.append(finding.resource)
    return names


def _line(finding: Finding) -> str:
    extra = []
    if finding.row_id:
        extra.append(f"row {finding.row_id}")
    if finding.field:
        extra.append(f"field {finding.field}")
    detail = f" ({', '.join(extra)})" if extra else ""
    hint = f"\n    hint: {finding.hint}" if finding.hint else ""
    return f"{finding.location}{detail}: {finding.message}{hint}"


def build(report: Report):
    """The report as a junitparser JUnitXml object."""
    from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

    root = JUnitXml("nkru validate")
    resources = _resources(report)
    for layer in report.layers:
        suite = TestSuite(layer.layer)
        suite.add_property("checks", str(layer.checks))
        classname = f"nkru.{layer.layer}"
        if layer.skipped_reason:
            case = TestCase(layer.layer, classname=classname)
            case.result = [Skipped(_xml_safe(layer.skipped_reason))]
            suite.add_testcase(case)
        else:
            groups: dict[str, dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
            for finding in sort_findings(layer.findings):
                groups[finding.resource or PACKAGE][finding.code].append(finding)
            names = [PACKAGE, *resources] if PACKAGE in groups else list(resources)
            for resource in names:
                codes = groups.get(resource)
                if not codes:
                    suite.add_testcase(TestCase(resource, classname=classname))
                    continue
                for code, items in sorted(codes.items()):
                    case = TestCase(f"{resource}: {code}", classname=classname)
                    text = _xml_safe("\n".join(_line(f) for f in items))
                    errors = [f for f in items if f.severity == "error"]
                    if errors:
                        count = f"{len(errors)} × " if len(errors) > 1 else ""
                        failure = Failure(_xml_safe(f"{count}{errors[0].message}"), type_=code)
                        failure.text = text
                        case.result = [failure]
                    else:
                        case.system_out = text
                    suite.add_testcase(case)
        cases = list(suite)
        for case in cases:  # the layer's time, shared evenly (a layer does not time each check)
            case.time = round(layer.seconds / len(cases), 6) if cases else 0.0
        root.add_testsuite(suite)
    root.update_statistics()
    return root


def dumps(report: Report) -> str:
    text = build(report).tostring().decode("utf-8")
    if not text.startswith("<?xml"):
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + text
    return text + "\n"


def render(report: Report, console, **_: object) -> None:
    # Plain write: rich would wrap lines and interpret markup.
    console.file.write(dumps(report))
