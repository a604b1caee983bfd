#!/usr/bin/env python3
"""PostgreSQL log (log_statement = all, log_line_prefix '%m [%p] %u@%d ') on stdin -> a
pgbench script on stdout: every statement USER sent, in order, with its bound parameters
inlined as the literals the log shows (so pgbench -M simple runs what the service ran).
The readiness ping (SELECT 1) is left out.
With --vars PREFIX it also writes the same statements as the service sent them, for pgbench
in the service's own protocol: PREFIX.sql with each bound parameter as a pgbench variable
(:s<statement>p<n>, sent as a parameter in -M extended and prepared; a NULL one inlined, as
pgbench variables cannot be NULL), PREFIX.defs with their values (one name=value a line, for
pgbench -D) and PREFIX.mode: simple (a simple query), extended (unnamed statements, e.g.
PQexecParams) or prepared (named ones), from how the log shows them.
  pglog2pgbench.py USER [--vars PREFIX] < postgres.log > endpoint.sql"""
import re
import sys

user = sys.argv[1]
vars_prefix = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--vars" else None
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


def no_colon_literals(sql):
    """pgbench -M extended/prepared takes every ':name' for a variable, also inside a string
    literal (to_char's 'HH24:MI:SS'): such literals become the same value as E'..\\x3a..'."""
    out, i = [], 0
    while i < len(sql):
        if sql[i] != "'":
            out.append(sql[i])
            i += 1
            continue
        prefixed = i and (sql[i - 1].isalnum() or sql[i - 1] in "_&")  # E'..', U&'..': left as they are
        j = i + 1
        while True:
            j = sql.index("'", j)
            if sql.startswith("''", j):
                j += 2
                continue
            break
        lit = sql[i:j + 1]
        if ":" in lit and not prefixed:
            lit = "E'" + lit[1:-1].replace("\\", "\\\\").replace(":", "\\x3a") + "'"
        out.append(lit)
        i = j + 1
    return "".join(out)


stmts, var_stmts, defs, modes = [], [], [], []
for k, (u, kind, text) in enumerate(entries):
    if u != user or kind != "LOG":
        continue
    m = re.match(r"(execute ([^:]*)|statement): (.*)$", text, re.S)
    if not m:
        continue
    sql = m.group(3).strip().rstrip(";")
    if re.fullmatch(r"(?i)select 1", sql):
        continue
    modes.append("simple" if m.group(2) is None else "extended" if m.group(2) == "<unnamed>" else "prepared")
    vsql = no_colon_literals(sql)
    if k + 1 < len(entries) and entries[k + 1][0] == u and entries[k + 1][1] == "DETAIL" \
            and entries[k + 1][2].startswith("parameters: "):
        vals = params(entries[k + 1][2][len("parameters: "):])
        sql = re.sub(r"\$(\d+)\b", lambda mm: vals.get(int(mm.group(1)), mm.group(0)), sql)
        n = len(var_stmts) + 1

        def var(mm):
            v = vals.get(int(mm.group(1)))
            if v is None or v == "NULL":
                return v or mm.group(0)
            name = "s%dp%s" % (n, mm.group(1))
            if name not in [d.split("=", 1)[0] for d in defs]:
                defs.append("%s=%s" % (name, v[1:-1].replace("''", "'")))
            return ":" + name
        vsql = re.sub(r"\$(\d+)\b", var, vsql)
    stmts.append(sql)
    var_stmts.append(vsql)
for s in stmts:
    print(s.replace("\n", " ") + ";")
if vars_prefix:
    if len(set(modes)) > 1:
        sys.stderr.write("pglog2pgbench: statements in several protocols %s; pgbench uses the first\n" % modes)
    with open(vars_prefix + ".sql", "w") as f:
        for s in var_stmts:
            f.write(s.replace("\n", " ") + ";\n")
    with open(vars_prefix + ".defs", "w") as f:
        f.write("".join(d + "\n" for d in defs))
    with open(vars_prefix + ".mode", "w") as f:
        f.write((modes[0] if modes else "simple") + "\n")
