#!/usr/bin/env python3
"""PostgreSQL log (log_statement = all, log_line_prefix '%m [%p] %u@%d ') on stdin -> a
pgbench script on stdout: every statement USER sent, in order, with its bound parameters
inlined as the literals the log shows (so pgbench -M simple runs what the service ran).
The readiness ping (SELECT 1) is left out.
  pglog2pgbench.py USER < postgres.log > endpoint.sql"""
import re
import sys

user = sys.argv[1]
HEAD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] (\S*)@\S* (LOG|DETAIL|ERROR|STATEMENT):  (.*)$")
entries = []  # [user, kind, text]
for line in sys.stdin:
    line = line.rstrip("\n")
    m = HEAD.match(line)
    if m:
        entries.append([m.group(1), m.group(2), m.group(3)])
    elif entries:  # continuation of a multi-line statement
        entries[-1][2] += "\n" + line.lstrip("\t")


def params(detail):
    """'$1 = 'a''b', $2 = NULL' -> {1: "'a''b'", 2: 'NULL'}"""
    out, i, s = {}, 0, detail
    while i < len(s):
        m = re.compile(r"\$(\d+) = ").match(s, i)
        if not m:
            break
        i = m.end()
        if s.startswith("NULL", i):
            val, i = "NULL", i + 4
        else:
            j = i + 1
            while True:
                j = s.index("'", j)
                if s.startswith("''", j):
                    j += 2
                    continue
                break
            val, i = s[i:j + 1], j + 1
        out[int(m.group(1))] = val
        if s.startswith(", ", i):
            i += 2
    return out


stmts = []
for k, (u, kind, text) in enumerate(entries):
    if u != user or kind != "LOG":
        continue
    m = re.match(r"(?:execute [^:]*|statement): (.*)$", text, re.S)
    if not m:
        continue
    sql = m.group(1).strip().rstrip(";")
    if re.fullmatch(r"(?i)select 1", sql):
        continue
    if k + 1 < len(entries) and entries[k + 1][0] == u and entries[k + 1][1] == "DETAIL" \
            and entries[k + 1][2].startswith("parameters: "):
        vals = params(entries[k + 1][2][len("parameters: "):])
        sql = re.sub(r"\$(\d+)\b", lambda mm: vals.get(int(mm.group(1)), mm.group(0)), sql)
    stmts.append(sql)
for s in stmts:
    print(s.replace("\n", " ") + ";")
