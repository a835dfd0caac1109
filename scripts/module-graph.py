#!/usr/bin/env python3
"""The module graph of wfd, drawn from the `import` lines of Sources/, and its rules.

    scripts/module-graph.py            print each module's layer, lines, share and imports
    scripts/module-graph.py --check    also fail (exit 1) when a rule is broken:
        - a module imports one of a higher layer (or of its own layer);
        - wfctl or wfd-web imports WorkflowEngine (or anything that does);
        - a module holds more than 30 % of the source lines;
        - a source file has more than 400 lines (data literals excepted, listed below).

`make test` runs it with --check.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources")
# Lowest first. A module may import only modules of lower layers.
LAYERS = [
    ["CLinux", "CSpawn", "CSystemd", "RuntimeSupport"],
    ["JSONSchemaKit", "Schedules"],
    ["JobFormat"],
    ["RunModel"],
    ["WorkflowStore", "WorkflowControl"],
    ["WorkflowReports", "WorkflowEngine", "WorkflowFuzzing", "WorkflowMetrics", "WorkflowTracing"],
    ["SystemdSupport", "WorkflowTesting", "WebAPI"],
    ["WebUI", "WorkflowMCP"],
    ["wfd", "wfctl", "wfd-web", "wfd-fuzz", "wfd-testhelper"],
]
EXTERNAL = {"Foundation", "Glibc", "Dispatch", "Synchronization", "FoundationEssentials", "Yams", "Logging",
            "ServiceLifecycle", "UnixSignals", "ArgumentParser", "HTTPTypes", "HummingbirdCore", "NIOCore",
            "NIOPosix", "Prometheus", "MCP"}
# Files that are data, not logic: the published job schema, the JSON Schema meta-schemas and the
# OpenAPI document.
DATA_LITERALS = {"JobFormat/Schema/JobSchema.swift", "JSONSchemaKit/Schema/MetaSchemas.swift",
                 "WebAPI/OpenAPIDocument.swift", "JobFormat/Schema/JobFormatGuide.swift"}
MODULE_NAMES = {"wfd-fuzz": "wfd_fuzz", "wfd-testhelper": "wfd_testhelper", "wfd-web": "wfd_web"}


def modules():
    found = {}
    for name in sorted(os.listdir(ROOT)):
        path = os.path.join(ROOT, name)
        if not os.path.isdir(path):
            continue
        imports, lines, files = set(), 0, {}
        for folder, _, names in os.walk(path):
            for file in names:
                if not file.endswith(".swift"):
                    continue
                with open(os.path.join(folder, file), encoding="utf-8") as text:
                    content = text.read().splitlines()
                lines += len(content)
                files[os.path.relpath(os.path.join(folder, file), ROOT)] = len(content)
                for line in content:
                    match = re.match(r"^(?:@testable )?import (\w+)", line)
                    if match and match.group(1) not in EXTERNAL:
                        imports.add(match.group(1))
        found[name] = (imports, lines, files)
    return found


def main():
    check = "--check" in sys.argv[1:]
    layer = {name: index for index, names in enumerate(LAYERS) for name in names}
    found = modules()
    total = sum(lines for _, lines, _ in found.values())
    problems = []
    for name in found:
        if name not in layer:
            problems.append(f"{name}: not placed in a layer (add it to LAYERS in {sys.argv[0]})")
    print(f"{'layer':>5}  {'module':<16} {'lines':>6} {'share':>6}  imports")
    for name, (imports, lines, files) in sorted(found.items(), key=lambda item: (layer.get(item[0], 99), item[0])):
        share = 100 * lines / total if total else 0
        print(f"{layer.get(name, '?'):>5}  {name:<16} {lines:>6} {share:>5.1f}%  {', '.join(sorted(imports))}")
        for imported in sorted(imports):
            if layer.get(imported, -1) >= layer.get(name, 99):
                problems.append(f"{name} (layer {layer.get(name)}) imports {imported} (layer {layer.get(imported)})")
        if share > 30:
            problems.append(f"{name} holds {share:.1f}% of the source lines (at most 30%)")
        for file, count in files.items():
            if count > 400 and file not in DATA_LITERALS:
                problems.append(f"Sources/{file} has {count} lines (at most 400, data literals excepted)")

    def reaches(start, goal, seen=()):
        imports = found.get(start, (set(),))[0]
        return goal in imports or any(reaches(i, goal, seen + (start,)) for i in imports if i not in seen)

    for client in ("wfctl", "wfd-web"):
        if reaches(client, "WorkflowEngine"):
            problems.append(f"{client} reaches WorkflowEngine")
    print(f"\n{total} lines in {len(found)} modules")
    for problem in problems:
        print(f"rule broken: {problem}", file=sys.stderr)
    if check and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
