"""Validates JSON documents against the job schema: prints 'PATH valid' or 'PATH invalid' per document.

Used by JobCorpusTests; the documents are job files converted to JSON by wfd's own YAML reader,
so YAML dialect differences between libraries do not enter the comparison.
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    document = json.load(open(path))
    print(path, "valid" if validator.is_valid(document) else "invalid")
