#!/usr/bin/env python3
"""Writes docs/job-format.md into Sources/JobFormat/Schema/JobFormatGuide.swift, for wfctl draft to
give a model the format's documentation with the schema. A test holds the two equal: run this after
changing the docs."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
text = open(os.path.join(ROOT, "docs", "job-format.md"), encoding="utf-8").read()
assert '"""#' not in text
# Indented as swift-format wants it: a multi-line string drops the closing delimiter's indentation.
body = "\n".join(("        " + line) if line else "" for line in text.split("\n"))
out = ('/// docs/job-format.md, as the model that drafts a job file reads it (`wfctl draft`). Written by\n'
       '/// scripts/embed-format-guide.py; a test holds it equal to the file.\n'
       'public enum JobFormatGuide {\n'
       '    public static let text = #"""\n' + body + '\n        """#\n}\n')
with open(os.path.join(ROOT, "Sources", "JobFormat", "Schema", "JobFormatGuide.swift"), "w", encoding="utf-8") as f:
    f.write(out)
