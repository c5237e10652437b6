"""Counts a tempest run's results from its subunit stream and prints the failures.

Used by conformance/run, with the tempest virtualenv's Python (python-subunit and testtools
come with tempest).

usage: results.py SUBUNIT_FILE COUNTS_FILE
Prints each failed test (or failed class set-up) with its traceback to stdout, and writes
"PASSED FAILED SKIPPED" to COUNTS_FILE. A skipped test is printed with its reason too.
"""
import sys

import subunit
import testtools

stream_path, counts_path = sys.argv[1:3]
tests = {}


def record(test):
    # One entry per test id; the last final status wins (a test reported twice keeps its
    # last word).
    if test["status"] in ("exists", "inprogress", None):
        return
    tests[test["id"]] = test


with open(stream_path, "rb") as stream:
    result = testtools.StreamToDict(record)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout").run(result)
    result.stopTestRun()


def text(test, name):
    detail = test["details"].get(name)
    return detail.as_text() if detail is not None else ""


def short(test_id):
    # Drop the tempest attribute suffix: "...test_x[id-...,smoke]" -> "...test_x".
    return test_id.split("[", 1)[0]


passed = sorted(i for i, t in tests.items() if t["status"] in ("success", "xfail"))
failed = sorted(i for i, t in tests.items() if t["status"] in ("fail", "uxsuccess"))
skipped = sorted(i for i, t in tests.items() if t["status"] == "skip")

for test_id in failed:
    print("=" * 78)
    print("FAIL:", short(test_id))
    print("-" * 78)
    print(text(tests[test_id], "traceback").rstrip() or "(no traceback recorded)")
for test_id in skipped:
    print("SKIP:", short(test_id), "--", text(tests[test_id], "reason").strip())
if failed or skipped:
    print("=" * 78)
    for test_id in failed:
        print("failed: ", short(test_id))
    for test_id in skipped:
        print("skipped:", short(test_id))

with open(counts_path, "w") as out:
    out.write(f"{len(passed)} {len(failed)} {len(skipped)}\n")
