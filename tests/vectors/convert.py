#!/usr/bin/env python3
"""Flatten a Project Wycheproof JSON vector file into one line per case.

Output, for the C unit tests (which read it with getline):

    # count N            total number of cases (the tests check they ran all)
    tcId result f1 f2 ...

result is valid / invalid / acceptable; hex fields are lower case and an
empty field is written as '-'.  Fields per test-group type:

    AeadTest   keySize ivSize tagSize key iv aad msg ct tag
    HkdfTest   keySize ikm salt info size okm
    DaeadTest  keySize key aad msg ct

usage: convert.py INPUT.json OUTPUT.txt
"""
import json
import sys

GROUP_FIELDS = {
    "AeadTest": (["keySize", "ivSize", "tagSize"],
                 ["key", "iv", "aad", "msg", "ct", "tag"]),
    "HkdfTest": (["keySize"], ["ikm", "salt", "info", "size", "okm"]),
    "DaeadTest": (["keySize"], ["key", "aad", "msg", "ct"]),
}


def field(value):
    text = str(value)
    if text == "":
        return "-"
    if any(c.isspace() for c in text):
        raise ValueError("whitespace in field %r" % text)
    return text


def convert(data):
    lines = []
    for group in data["testGroups"]:
        kind = group["type"]
        if kind not in GROUP_FIELDS:
            raise ValueError("unknown test group type %r" % kind)
        gfields, tfields = GROUP_FIELDS[kind]
        head = [field(group[k]) for k in gfields]
        for test in group["tests"]:
            row = [str(test["tcId"]), test["result"]] + head
            row += [field(test[k]) for k in tfields]
            lines.append(" ".join(row))
    if len(lines) != data["numberOfTests"]:
        raise ValueError("numberOfTests %d but %d cases found"
                         % (data["numberOfTests"], len(lines)))
    return ["# count %d" % len(lines)] + lines


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        data = json.load(f)
    lines = convert(data)
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
